#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: vmdk_restore
short_description: Write a restore point into a VM's virtual disks through VDDK, every chunk verified
description:
  - Restores the disks of a restore point onto a VM's disks (restore-rules A, B, F). Every point is a
    logical full, so any point of a chain restores by writing each sector once.
  - Opens each target by its B(current) leaf file name, read from the VM now (after snapshots the VM
    writes to C(disk-000002.vmdk), not to the name saved at backup time).
  - Refuses before writing anything - a powered-on VM, a target disk smaller than its source, a point
    that does not exist, the SAN transport without a snapshot, disks it cannot match.
  - Every chunk is checked against its SHA-256 before it is written (O(verify)); a damaged chunk stops
    the restore before it reaches the disk, with error_code C(CHUNK_CORRUPT) naming point, disk and
    offset.
  - An interrupted restore resumes where it stopped when run again with the same O(state_dir); a run
    after a complete restore of the same point onto the same disks writes nothing and reports
    C(changed=false).
  - After writing, CBT is reset (O(reset_cbt)); the next backup of the VM must be a full one.
  - Progress can be followed with M(vadp.vsphere.transfer_status) while the module runs asynchronously.
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options:
  repository:
    description: The repository's folder.
    type: path
    required: true
  restore_point:
    description: The point - an id, C(latest), or an ISO 8601 time meaning the last point at or before it.
    type: str
    default: latest
  source_vm:
    description:
      - The VM whose points to restore, by name or instance uuid, when it is not the target VM itself
        (a restore onto another or a new VM).
    type: str
  mode:
    description:
      - C(full) writes the point's whole image onto disks that hold data - zero chunks are written
        wherever the target is not already zero (asked of VDDK), or old data would survive.
      - C(fresh) is for newly created disks - the VDDK metadata first, then only the non-zero chunks,
        so a thin disk stays thin.
    type: str
    default: full
    choices: [full, fresh]
  disks:
    description: Restore only these source disks (device keys or labels); all by default.
    type: list
    elements: str
  disk_map:
    description:
      - Source disk (key or label) to target disk (key, label or address such as C(scsi0:1)), where
        they differ. Without it, disks pair by device key, or the only disk with the only disk.
    type: dict
  verify:
    description: Re-hash every chunk against its name before writing it (the stored checksum is always checked).
    type: bool
    default: true
  reset_cbt:
    description: Reset changed block tracking after the restore, when it is on.
    type: bool
    default: true
  snapshot:
    description: The moref of the temporary snapshot for the SAN and HotAdd transports (from M(vadp.vsphere.temp_snapshot)).
    type: str
  transport:
    description: VDDK transport modes to try, in order, separated by colons.
    type: str
    default: nbdssl:nbd
  timeout:
    description: Seconds to wait for each vSphere task (CBT reset).
    type: int
    default: 600
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.connection.vm_identity
  - vadp.vsphere.connection.vddk
attributes:
  check_mode:
    support: full
    description: Returns the plan (per disk the bytes to write and the chunks) without writing.
'''

EXAMPLES = r'''
- name: Put web01 back to last night (the VM is powered off)
  vadp.vsphere.vmdk_restore:
    name: web01
    repository: /backups/vsphere
    restore_point: "2026-11-24T23:00:00Z"
    vddk_libdir: /opt/vmware-vix-disklib-distrib
  register: restored

- name: Fill a newly created VM's disks from web01's latest point
  vadp.vsphere.vmdk_restore:
    name: web01-dr
    source_vm: web01
    repository: /backups/vsphere
    mode: fresh
'''

RETURN = r'''
point:
  description: The restore point written (id, time, type).
  returned: always
  type: dict
  sample: {id: 20261124T230000Z-a1b2c3, time: "2026-11-24T23:00:00Z", type: incremental}
disks:
  description: Per disk - source and target keys, the target file, mode, transport, bytes to write and written, seconds, MB/s.
  returned: always
  type: list
  elements: dict
  sample: [{source_key: 2000, target_key: 2000, target_file: "[ds1] web01/web01.vmdk", mode: full, transport: nbdssl,
            bytes_to_write: 1073741824, bytes_written: 1073741824, zero_chunks_skipped: 10, seconds: 8.2, mb_per_s: 130.9}]
resumed:
  description: Whether this run continued an interrupted restore.
  returned: always
  type: bool
  sample: false
cbt_reset:
  description: Whether CBT was reset after the restore (the next backup must then be a full).
  returned: always
  type: bool
  sample: true
warnings_vddk:
  description: A warning about the server thumbprint when it could not be verified, or null.
  returned: always
  type: str
  sample: null
'''

import json
import os

from ansible_collections.vadp.vsphere.plugins.module_utils import restore
from ansible_collections.vadp.vsphere.plugins.module_utils import vsphere_cbt as cbt
from ansible_collections.vadp.vsphere.plugins.module_utils.data_mover import DataMover, TransferFailedError
from ansible_collections.vadp.vsphere.plugins.module_utils.repository import ChunkCorruptError, PointNotFoundError, Repository
from ansible_collections.vadp.vsphere.plugins.module_utils.vm_facts import vm_facts
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere_module import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    default_state_dir,
    vddk_argument_spec,
    vm_identity_argument_spec,
)


class VmdkRestoreModule(VsphereModule):
    def __init__(self):
        spec = vm_identity_argument_spec()
        spec.update(vddk_argument_spec("nbdssl:nbd"))
        spec.update(
            repository=dict(type="path", required=True),
            restore_point=dict(type="str", default="latest"),
            source_vm=dict(type="str"),
            mode=dict(type="str", default="full", choices=["full", "fresh"]),
            disks=dict(type="list", elements="str"),
            disk_map=dict(type="dict"),
            verify=dict(type="bool", default=True),
            reset_cbt=dict(type="bool", default=True),
            snapshot=dict(type="str"),
            timeout=dict(type="int", default=600),
        )
        super(VmdkRestoreModule, self).__init__(argument_spec=spec, required_one_of=VM_IDENTITY_ONE_OF,
                                                supports_check_mode=True)

    def _source_key(self, repository, facts):
        wanted = self.params["source_vm"]
        if not wanted:
            return facts["vm"]["instance_uuid"]
        keys = sorted({m["vm"]["instance_uuid"] for m in repository.manifests() if wanted in (m["vm"]["name"], m["vm"]["instance_uuid"])})
        if len(keys) != 1:
            raise PointNotFoundError("source_vm %r matches %d VMs in %s (%s)" % (wanted, len(keys), repository.path,
                                                                                 ", ".join(keys) or "none"))
        return keys[0]

    def execute(self, client):
        p = self.params
        vm = self.find_vm(client)
        facts = vm_facts(vm)
        if facts["vm"]["power_state"] != "poweredOff":
            raise restore.VmPoweredOnError("%s is %s: VDDK cannot write the disks of a running VM. Power it off first "
                                           "(vadp.vsphere.vm_power state: shutdown-guest)." % (vm.name, facts["vm"]["power_state"]))
        if "san" in p["transport"].split(":") and not p["snapshot"]:
            raise restore.SanNeedsSnapshotError("The SAN transport writes through a snapshot: take one with "
                                                "vadp.vsphere.temp_snapshot and pass its moref as snapshot.")
        repository = Repository(p["repository"])
        point = repository.find_point(self._source_key(repository, facts), p["restore_point"])
        pairs = restore.match_disks(point, facts["disks"], p["disks"], p["disk_map"])
        plans = [restore.disk_plan(repository, point, s, t, p["mode"], p["verify"]) for s, t in pairs]
        identity = restore.plan_id(point["id"], p["mode"], plans)
        state_dir = p["state_dir"] or default_state_dir(facts["vm"]["instance_uuid"] + "-restore")
        record_path = os.path.join(state_dir, "restored.json")
        result = {"changed": True, "vm": facts["vm"], "resumed": False, "cbt_reset": False, "warnings_vddk": None,
                  "point": dict((k, point[k]) for k in ("id", "time", "type")),
                  "disks": [{"source_key": s["key"], "target_key": t["key"], "target_file": t["file_name"],
                             "mode": p["mode"], "bytes_to_write": sum(e[1] for e in plan["extents"] if e[2] or p["mode"] == "fresh"),
                             "zero_chunks_skipped": sum(1 for e in plan["extents"] if not e[2]) if p["mode"] == "fresh" else 0,
                             "capacity_grows_by": t["capacity_bytes"] - s["capacity_bytes"]}
                            for (s, t), plan in zip(pairs, plans)]}
        if _read_json(record_path).get("plan_id") == identity:
            result["changed"] = False  # this point is already on these disks
            return result
        if self.module.check_mode:
            return result
        vddk, connection, secrets, result["warnings_vddk"] = self.vddk_connection(client, vm._moId, p["snapshot"])
        try:
            moved = DataMover(state_dir).run({"vddk": vddk, "connection": connection, "disks": plans}, secrets)
        except TransferFailedError as exc:
            if exc.details.get("error_type") == "ChunkCorruptError":
                raise ChunkCorruptError("The restore stopped at a damaged chunk, before writing it: %s" % exc.message,
                                        details=exc.details)
            raise
        by_id = dict((d["id"], d) for d in moved["status"]["disks"])
        seconds = max(moved["status"]["seconds"], 1e-6)
        for disk in result["disks"]:
            status = by_id[str(disk["target_key"])]
            written = status["bytes_done"] - status["resumed_from"]
            result["resumed"] = result["resumed"] or status["resumed_from"] > 0
            disk.update(transport=status.get("transport"), bytes_written=written, seconds=seconds,
                        mb_per_s=round(written / seconds / 1e6, 1), verified=p["verify"])
        if p["reset_cbt"] and cbt.effective(vm)[1]:
            cbt.reset(vm, p["timeout"])
            result["cbt_reset"] = True
        _write_json(record_path, {"plan_id": identity, "point": point["id"]})
        return result


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _write_json(path, value):
    with open(path + ".tmp", "w") as f:
        json.dump(value, f)
    os.replace(path + ".tmp", path)


def main():
    VmdkRestoreModule().run()


if __name__ == "__main__":
    main()
