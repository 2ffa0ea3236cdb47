# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning a restore from a restore point: which target disk gets which source disk, what to
write of each, and the checks that refuse a restore before anything is written. No Ansible imports.
"""

import hashlib
import json

from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import ChunkCorruptError
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import (
    FileExtent,
    FilesSource,
    PointExtent,
    RepositorySource,
    WriteDiskPlan,
    ZeroExtent,
)
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import RestoreRefusedError, SourceUnalignedError
from ansible_collections.vadp.vsphere.plugins.module_utils.extents import SECTOR, Extent


class VmPoweredOnError(RestoreRefusedError):
    error_code = "VM_POWERED_ON"


class DiskTooSmallError(RestoreRefusedError):
    error_code = "DISK_TOO_SMALL"


class DiskNotFoundError(RestoreRefusedError):
    error_code = "DISK_NOT_FOUND"


class SanNeedsSnapshotError(RestoreRefusedError):
    error_code = "SAN_NEEDS_SNAPSHOT"


class SanNotPossibleError(RestoreRefusedError):
    """SAN cannot write these disks (thin or lazy-zeroed, CBT on, other snapshots)."""
    error_code = "SAN_NOT_POSSIBLE"


class SourceTooSmallError(RestoreRefusedError):
    """A raw image or chain is shorter than the disk it is to fill."""
    error_code = "SOURCE_TOO_SMALL"


class ChangedOnlyRefusedError(RestoreRefusedError):
    """changed_only cannot tell what changed: CBT off, the change id void, the disk resized or
    not the backed-up one."""
    error_code = "CHANGED_ONLY_IMPOSSIBLE"


def _names(disk):
    names = {str(disk["key"]), disk.get("label")}
    if disk.get("address"):
        names.add(disk["address"])
    return names


def match_disks(manifest, targets, selection=None, disk_map=None):
    """[(source disk, target disk)]: by disk_map (source key or label -> target key, label or
    address), else the same device key, else the only disk on each side."""
    disk_map = {str(k): str(v) for k, v in (disk_map or {}).items()}
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


def changed_only_check(source, target, in_place):
    """Refuse changed_only where CBT cannot say what changed since the point."""
    why = None
    if not in_place:
        why = "the target is not the VM the point was taken of"
    elif not source.get("change_id"):
        why = "the point has no CBT change id for disk %s (CBT was off at the backup)" % source["key"]
    elif not target.get("change_id"):
        why = "CBT is not on for target disk %s now" % target["key"]
    elif target["capacity_bytes"] != source["capacity_bytes"]:
        why = "disk %s was resized since the point (%d bytes then, %d now)" % (
            target["key"], source["capacity_bytes"], target["capacity_bytes"])
    if why:
        raise ChangedOnlyRefusedError("mode changed_only: %s; restore with mode full instead." % why)


def _needed_chunks(index, extents):
    """The names of the chunks the extents read, each once per run of equal names."""
    last = None
    for extent in extents:
        if isinstance(extent, PointExtent):
            first, end = extent.offset // index.chunk_size, -(-(extent.offset + extent.length) // index.chunk_size)
            for number in range(first, end):
                name = index.entries[number]
                if name is not None and name != last:
                    yield name
                last = name


# Descriptor keys that describe the target disk as it was created (its controller, provisioning and
# hardware version), not the data: replaying the source's values would make them untrue after a
# remapped controller, another provisioning or a lowered hardware version.
TARGET_DEFINED_METADATA = ("adapterType", "thinProvisioned", "virtualHWVersion", "geometry.")


def replayable_metadata(saved):
    """The saved VDDK metadata a fresh disk should receive."""
    return {k: v for k, v in (saved or {}).items() if not k.startswith(TARGET_DEFINED_METADATA)}


def san_check(vm_name, disks, cbt_enabled, snapshot_morefs, snapshot_moref):
    """Refuse SAN before anything changes when it cannot write these disks. Without a snapshot
    (a preflight, before the restore snapshot exists and CBT is turned off) only what no later
    step will change is checked: the provisioning."""
    problems = ["disk %s (%s) is %s: the SAN transport writes only thick eager-zeroed disks" % (
        d["key"], d["base_file_name"], (d["provisioning"] or d["backing_type"]).replace("_", "-"))
        for d in disks if d["provisioning"] != "eager_zeroed"]
    if snapshot_moref:
        others = [m for m in snapshot_morefs if m != snapshot_moref]
        if others:
            problems.append("%s has snapshots other than the restore snapshot (%s): SAN writes the base disk, so every "
                            "other snapshot must be removed first" % (vm_name, ", ".join(others)))
        if cbt_enabled:
            problems.append("CBT is on for %s: SAN cannot write while it is on (vadp.vsphere.vm_cbt state: disabled)"
                            % vm_name)
    if problems:
        raise SanNotPossibleError("A SAN restore of %s is not possible: %s. Use nbdssl or hotadd, or fix this first; "
                                  "nothing was changed." % (vm_name, "; ".join(problems)))


def file_source_extents(kind, path, capacity, pieces, target_capacity, short_source):
    """The extents of a raw image or a merged chain (Extents whose source is (path, file offset),
    or None for zeros), after the checks that keep them exact: whole sectors only (VDDK writes sectors,
    so an area at byte 1000 cannot be written without shifting it), and a source shorter than the
    disk refused unless the caller chose to zero or keep the rest."""
    if capacity % SECTOR:
        raise SourceUnalignedError("the %s %s is %d bytes, not a whole number of 512-byte sectors: it cannot be written "
                                   "exactly" % (kind, path, capacity))
    for offset, length, _where in pieces:
        if offset % SECTOR or length % SECTOR:
            raise SourceUnalignedError("the %s %s has an area at byte %d of %d bytes, not on 512-byte sectors: VDDK "
                                       "writes whole sectors, so it cannot be written without shifting data" % (
                                           kind, path, offset, length))
    extents = list(pieces)
    rest = target_capacity - capacity
    if rest > 0:
        if short_source == "refuse":
            raise SourceTooSmallError(
                "the %s %s holds %d bytes, %d fewer than the target disk's %d: the rest of the disk would keep its old "
                "data. Set short_source to zero_rest (the rest reads as zeros) or keep_rest (it keeps what it holds), "
                "or give the whole image" % (kind, path, capacity, rest, target_capacity))
        if short_source == "zero_rest":
            extents.append(Extent(capacity, rest, None))
    return extents


def disk_plan(repository, manifest, source, target, mode, verify, changed_areas=None, path=None, verify_after_write=False):
    """The mover's plan for one disk: every chunk (full, zeros only where the target holds data),
    the non-zero chunks with the VDDK metadata first (fresh), or the point's data in the areas
    changed since it (changed_only, zeros included)."""
    index = repository.points.read_index(manifest, source)
    if mode == "changed_only":
        extents = [PointExtent(offset, length) for offset, length in changed_areas]
    else:
        extents = [PointExtent(o, n) if holds_data else ZeroExtent(o, n) for o, n, holds_data in index.runs()
                   if holds_data or mode == "full"]
    missing = repository.chunks.missing(_needed_chunks(index, extents))
    if missing:  # found now, before the first write, not after tens of MiB
        raise ChunkCorruptError("point %s disk %s needs %d chunk(s) the repository does not have (first: %s): nothing "
                                "was written. Verify the repository, or restore another point" % (
                                    manifest["id"], source["key"], len(missing), repository.chunks.describe(missing[0])))
    return WriteDiskPlan(id=str(target["key"]), path=path or target["file_name"], extents=extents,
                         source=RepositorySource(repository.location, manifest["id"], source["key"], verify),
                         zeros_where_allocated=mode == "full", verify_after_write=verify_after_write,
                         metadata=replayable_metadata(source.get("vddk_metadata")) if mode == "fresh" else {})


def file_disk_plan(target, extents, mode, path=None, verify_after_write=False):
    """The mover's plan for one disk from files (a raw image or a merged chain, extents from
    file_source_extents): each piece read from its file; all-zero pieces skipped in fresh mode (a
    thin disk stays thin); zeros for the rest of the disk only where the target holds data."""
    paths = sorted({e[2][0] for e in extents if e[2] is not None})
    return WriteDiskPlan(id=str(target["key"]), path=path or target["file_name"],
                         extents=[FileExtent(o, n, paths.index(where[0]), where[1]) if where else ZeroExtent(o, n)
                                  for o, n, where in extents],
                         source=FilesSource(paths, skip_zero_pieces=mode == "fresh"),
                         zeros_where_allocated=mode == "full", verify_after_write=verify_after_write)


def restored_identity(source_id, pairs):
    """What a finished restore put where: the source, and each source disk's target file."""
    return hashlib.sha256(json.dumps([source_id, [[s["key"], t["key"], t["file_name"]] for s, t in pairs]],
                                     sort_keys=True).encode()).hexdigest()
