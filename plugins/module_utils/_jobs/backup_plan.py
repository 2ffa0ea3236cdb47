# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a VADP backup needs besides the data mover: the snapshot's configuration as pyVmomi
JSON with secrets redacted, the changed areas from CBT page after page, the plan of chunks to
read per disk, the NVRAM file through the datastore HTTP interface. No Ansible imports.
"""

import fnmatch
import json

try:
    from pyVmomi.VmomiJSONEncoder import VmomiJSONEncoder
except ImportError:
    VmomiJSONEncoder = None  # VsphereClient reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils.extents import align
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import ReadDiskPlan
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import disk_facts
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.cbt import ChangeIdInvalidError, changed_areas

DEFAULT_REDACT = ["guestinfo.*"]
REDACTED = "<redacted>"


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
