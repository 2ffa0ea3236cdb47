# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning a restore from a restore point: which target disk gets which source disk, what to
write of each, and the checks that refuse a restore before anything is written. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json

from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere_errors import VsphereError


class RestoreRefusedError(VsphereError):
    error_code = "RESTORE_REFUSED"


class VmPoweredOnError(RestoreRefusedError):
    error_code = "VM_POWERED_ON"


class DiskTooSmallError(RestoreRefusedError):
    error_code = "DISK_TOO_SMALL"


class DiskNotFoundError(RestoreRefusedError):
    error_code = "DISK_NOT_FOUND"


class SanNeedsSnapshotError(RestoreRefusedError):
    error_code = "SAN_NEEDS_SNAPSHOT"


def _names(disk):
    names = {str(disk["key"]), disk.get("label")}
    if disk.get("address"):
        names.add(disk["address"])
    return names


def match_disks(manifest, targets, selection=None, disk_map=None):
    """[(source disk, target disk)]: by disk_map (source key or label -> target key, label or
    address), else the same device key, else the only disk on each side."""
    disk_map = dict((str(k), str(v)) for k, v in (disk_map or {}).items())
    sources = [d for d in manifest["disks"] if not selection or _names(d) & set(map(str, selection))]
    if selection and len(sources) != len(selection):
        raise DiskNotFoundError("disks %s: the restore point's disks are %s" % (
            list(selection), ", ".join("%s (%s)" % (d["key"], d["label"]) for d in manifest["disks"])))
    pairs = []
    for source in sources:
        wanted = [v for k, v in disk_map.items() if k in _names(source)]
        if wanted:
            match = [t for t in targets if wanted[0] in _names(t)]
        elif len(sources) == 1 and len(targets) == 1:
            match = targets
        else:
            match = [t for t in targets if t["key"] == source["key"]]
        if len(match) != 1:
            listed = ", ".join("%s (%s, %s)" % (t["key"], t["label"], t["address"]) for t in targets)
            raise DiskNotFoundError("no target disk for source disk %s (%s): the VM's disks are %s; map them with "
                                    "disk_map" % (source["key"], source["label"], listed))
        if match[0]["capacity_bytes"] < source["capacity_bytes"]:
            raise DiskTooSmallError("target disk %s (%s) holds %d bytes, less than the %d of source disk %s: "
                                    "grow it first" % (match[0]["key"], match[0]["label"], match[0]["capacity_bytes"],
                                                       source["capacity_bytes"], source["key"]))
        pairs.append((source, match[0]))
    return pairs


def disk_plan(repository, manifest, source, target, mode, verify):
    """The mover's plan for one disk: every chunk (full, zeros only where the target holds data),
    or the non-zero chunks with the VDDK metadata first (fresh)."""
    index = repository.read_index(manifest, source)
    extents = [[o, n, h] for o, n, h in index.extents() if h is not None or mode == "full"]
    return {"id": str(target["key"]), "path": target["file_name"], "extents": extents,
            "source": {"type": "repository", "path": repository.path, "point": manifest["id"],
                       "disk": source["key"], "verify": verify},
            "zeros_where_allocated": mode == "full",
            "metadata": source.get("vddk_metadata") or {} if mode == "fresh" else {}}


def plan_id(point_id, mode, disks):
    return hashlib.sha256(json.dumps([point_id, mode, disks], sort_keys=True).encode()).hexdigest()
