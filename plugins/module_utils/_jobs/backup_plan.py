# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a VADP backup needs besides the data mover: the disks it can read (those snapshots
cover), the snapshot's configuration as pyVmomi JSON with secrets redacted, the changed areas
from CBT page after page, the plan of chunks to read per disk, the NVRAM file through the
datastore HTTP interface. No Ansible imports.
"""

import fnmatch
import json
from typing import List, Optional

try:
    from pyVmomi import vim
    from pyVmomi.VmomiJSONEncoder import VmomiJSONEncoder
except ImportError:
    VmomiJSONEncoder = None  # VsphereClient reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError, VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils.extents import align
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import ReadDiskPlan
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import disk_facts, disks_of
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.cbt import ChangeIdInvalidError, changed_areas

DEFAULT_REDACT = ["guestinfo.*"]
REDACTED = "<redacted>"


class DiskNotSnapshottedError(VadpError):
    """A disk vSphere leaves out of snapshots (physical RDM, independent) was asked for, or none is left."""
    error_code = "DISK_NOT_SNAPSHOTTED"


def _outside_snapshots(disk: dict) -> bool:
    """vSphere does not snapshot these, so a backup cannot read them through its snapshot."""
    physical_rdm = disk["rdm"] is not None and disk["rdm"].get("compatibility_mode") == "physicalMode"
    return physical_rdm or (disk["disk_mode"] or "").startswith("independent")


def select_disks(config, wanted: Optional[List[str]]):
    """(the VirtualDisks to back up, the disks left out and why); a selection that names a disk
    the VM lacks, or one no snapshot covers, is refused."""
    facts = disks_of(config)
    chosen = [f for f in facts if not wanted or set(wanted) & {str(f["key"]), f["label"], f["address"]}]
    if wanted and len(chosen) != len(wanted):
        raise InvalidSettingsError("disks %s: the VM's disks are %s" % (wanted, ", ".join(
            "%s (%s, %s)" % (f["key"], f["label"], f["address"]) for f in facts)))
    unsnapshotted = [f for f in chosen if _outside_snapshots(f)]
    if wanted and unsnapshotted:
        raise DiskNotSnapshottedError("disks %s cannot be backed up: vSphere leaves physical-mode RDMs and independent "
                                      "disks out of snapshots, so there is no frozen copy to read" % ", ".join(
                                          "%s (%s)" % (f["key"], f["label"]) for f in unsnapshotted))
    skipped = [{"key": f["key"], "label": f["label"], "why": "physical-mode RDM or independent disk: not in snapshots"}
               for f in unsnapshotted]
    keys = [f["key"] for f in chosen if f not in unsnapshotted]
    if not keys:
        raise DiskNotSnapshottedError("%s has no disk a snapshot covers (physical-mode RDMs and independent disks are left "
                                      "out of snapshots)" % config.name)
    return [d for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk) and d.key in keys], skipped


def config_json(config, redact_patterns):
    """(the VirtualMachineConfigInfo as pyVmomi JSON, the extraConfig keys redacted)."""
    value = json.loads(json.dumps(config, cls=VmomiJSONEncoder))
    redacted = []
    for option in value.get("extraConfig") or []:
        if any(fnmatch.fnmatchcase(option.get("key", ""), p) for p in redact_patterns):
            option["value"] = REDACTED
            redacted.append(option["key"])
    return value, redacted


def disk_plan(vm, snapshot, disk, repository, parent_disk, parent_index_path, index_out):
    """The disk's part of a backup plan, its kind ('full' / 'incremental') and why it fell back."""
    capacity = disk.capacityInBytes or disk.capacityInKB * 1024
    change_id = getattr(disk.backing, "changeId", None)
    chunk_size = repository.chunk_size
    kind, reason, areas = "full", None, None
    if parent_disk is not None and parent_disk.get("change_id") and change_id:
        if parent_disk["capacity_bytes"] != capacity:
            reason = "the disk was resized since the last backup"
        else:
            try:
                areas = changed_areas(vm, snapshot, disk.key, parent_disk["change_id"], capacity)
                kind = "incremental"
            except ChangeIdInvalidError as exc:
                reason = "the last backup's change id is no longer valid (CBT was reset or turned off): %s" % exc.message
    elif parent_disk is not None:
        reason = "change tracking was not on at the last backup or is not on now"
    if areas is None:
        areas = changed_areas(vm, snapshot, disk.key, "*", capacity) if change_id else [(0, capacity)]
    chunks = sorted({n for offset, length in align(areas, chunk_size, capacity)
                     for n in range(offset // chunk_size, (offset + length - 1) // chunk_size + 1)})
    plan = ReadDiskPlan(id=str(disk.key), path=disk.backing.fileName, capacity=capacity, chunk_size=chunk_size,
                        chunks=chunks, repository=repository.location, index_out=index_out,
                        parent_index=parent_index_path if kind == "incremental" else None)
    return plan, kind, reason, [list(a) for a in areas], change_id


def manifest_disk(disk, devices_by_key, index_name, vddk_metadata, change_id, areas, stats):
    facts = disk_facts(disk, devices_by_key)
    return {
        "key": disk.key, "label": facts["label"],
        "controller": {"type": facts["controller_type"], "bus": facts["controller_bus_number"],
                       "unit": facts["unit_number"], "key": facts["controller_key"]},
        "capacity_bytes": facts["capacity_bytes"],
        "backing": {"type": facts["backing_type"], "provisioning": facts["provisioning"],
                    "disk_mode": facts["disk_mode"], "sharing": facts["sharing"], "uuid": facts["uuid"],
                    "file_name": facts["file_name"]},
        "rdm": facts["rdm"], "index": index_name, "vddk_metadata": vddk_metadata,
        "change_id": change_id, "changed_extents": areas, "stats": stats,
    }
