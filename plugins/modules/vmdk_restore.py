#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: vmdk_restore
short_description: Write a restore point into a VM's virtual disks through VDDK, every chunk verified
description:
  - Restores the disks of a restore point onto a VM's disks. Every point is a
    logical full, so any point of a chain restores by writing each sector once.
  - Opens each target by its B(current) leaf file name, read from the VM now (after snapshots the VM
    writes to C(disk-000002.vmdk), not to the name saved at backup time).
  - Refuses before writing anything - a powered-on VM, a target disk smaller than its source, a point
    that does not exist, the SAN transport without a snapshot, disks it cannot match.
  - Every chunk is checked against its SHA-256 before it is written (O(verify)); a damaged chunk stops
    the restore before it reaches the disk, with error_code C(CHUNK_CORRUPT) naming point, disk and
    offset.
  - An interrupted restore resumes where it stopped when run again with the same O(state_dir). A run
    after a complete restore of the same source onto the same disks writes nothing and reports
    C(changed=false) when CBT proves no disk was written since; without CBT it cannot know, and restores again.
  - After writing, CBT is reset (O(reset_cbt)); the next backup of the VM must be a full one.
  - Progress can be followed with M(vadp.vsphere.transfer_status) while the module runs asynchronously.
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options:
  repository:
    description:
      - The repository's folder (docs/restore-point-format.md). One of O(repository), O(raw_images) and O(chains)
        is the source.
    type: path
  restore_point:
    description: The point - an id, C(latest), or an ISO 8601 time meaning the last point at or before it.
    type: str
    default: latest
  source_vm:
    description:
      - The VM whose points to restore, by name or instance uuid, when it is not the target VM itself
        (a restore onto another or a new VM).
    type: str
  raw_images:
    description:
      - Raw disk images (another tool's full backups), as target disk (key, label or address such as
        C(scsi0:0)) to image file. The image's size must be a whole number of 512-byte sectors
        (error_code C(SOURCE_UNALIGNED)); an image shorter than the disk is refused unless
        O(short_source) says what the rest of the disk should hold.
    type: dict
  chains:
    description:
      - Backup chains of other VADP tools (a full raw image and incrementals with their changed areas,
        described by a JSON file, see docs/restore-point-format.md "Other sources"), as target disk to
        description file. The chain is merged first (newest wins), so every byte is written once.
      - Every changed area must start and end on a 512-byte sector; an area that does not is refused
        with error_code C(SOURCE_UNALIGNED) (VDDK writes whole sectors, so it could only be written shifted).
    type: dict
  short_source:
    description:
      - What the part of the target disk beyond a shorter O(raw_images) image or O(chains) chain should hold.
      - C(refuse) fails with error_code C(SOURCE_TOO_SMALL) before writing; C(zero_rest) makes it read as
        zeros (written only where the disk holds data); C(keep_rest) leaves what the disk holds there.
    type: str
    default: refuse
    choices: [refuse, zero_rest, keep_rest]
  mode:
    description:
      - C(full) writes the point's whole image onto disks that hold data - zero chunks are written
        wherever the target is not already zero (asked of VDDK), or old data would survive.
      - C(fresh) is for newly created disks - the VDDK metadata first, then only the non-zero chunks,
        so a thin disk stays thin.
      - C(changed_only) (quick rollback) asks the VM's CBT which areas changed since the point was taken
        and writes only those, from the point. It needs the point to be of this VM, CBT on then and now,
        the point's change id still valid and the disk not resized; otherwise it refuses with error_code
        C(CHANGED_ONLY_IMPOSSIBLE) and writes nothing. A restore without O(reset_cbt) leaves CBT
        misreporting, so changed_only after such a restore can miss areas.
    type: str
    default: full
    choices: [full, fresh, changed_only]
  disks:
    description: Restore only these source disks of the point (device keys or labels); all by default.
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
  verify_after_write:
    description:
      - After a disk is written and flushed, read every written piece back through VDDK and compare it with the source;
        a difference fails the restore with error_code C(READ_BACK_MISMATCH) naming the offset. It reads the disk once
        more, which made the transfer 1.7 to 1.9 times as long on the lab; over NBD expect about twice.
    type: bool
    default: false
  reset_cbt:
    description: Reset changed block tracking after the restore, when it is on.
    type: bool
    default: true
  snapshot:
    description:
      - The moref of the restore snapshot (from M(vadp.vsphere.temp_snapshot)). Required for C(san), which
        writes the base disk beneath it; the snapshot must be the VM's only one and CBT must be off.
      - Optional for the other transports. With a snapshot, C(hotadd) and C(nbdssl) write into the snapshot's
        delta and the data is written a second time when the snapshot is removed (consolidated) - twice
        the I/O and datastore space equal to the restore. Without one, every sector is written once.
    type: str
  transport:
    description:
      - VDDK transport modes to try, in order, separated by colons; VDDK chooses per disk when it opens it.
      - C(san) stands alone - it opens the base disk beneath the restore snapshot while the others open the
        VM's current leaf, so a list that could fall back from one to the other is refused. In check mode
        without O(snapshot), C(san) checks what it can before anything changes (thick eager-zeroed disks;
        error_code C(SAN_NOT_POSSIBLE)), so a role can refuse before removing snapshots or turning CBT off.
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

- name: Undo only what changed since the last backup (quick rollback, CBT on)
  vadp.vsphere.vmdk_restore:
    name: web01
    repository: /backups/vsphere
    mode: changed_only

- name: Restore another tool's raw image onto the first disk, its full+incrementals chain onto the second
  vadp.vsphere.vmdk_restore:
    name: db01
    raw_images:
      "scsi0:0": /imports/db01-disk0.raw
  # a second task, as the sources are exclusive
- name: Restore the chain of the second disk
  vadp.vsphere.vmdk_restore:
    name: db01
    chains:
      "scsi0:1": /imports/db01-disk1/chain.json

- name: Restore over SAN (thick eager-zeroed disks, CBT off, the restore snapshot the VM's only one)
  vadp.vsphere.vmdk_restore:
    name: db02
    repository: /backups/vsphere
    transport: san
    snapshot: "{{ restore_snapshot.snapshot.moref }}"

- name: Fill a newly created VM's disks from web01's latest point
  vadp.vsphere.vmdk_restore:
    name: web01-dr
    source_vm: web01
    repository: /backups/vsphere
    mode: fresh
'''

RETURN = r'''
point:
  description: The restore point written (id, time, type); for raw images and chains the id and time are null.
  returned: always
  type: dict
  sample: {id: 20261124T230000Z-a1b2c3, time: "2026-11-24T23:00:00Z", type: incremental}
disks:
  description:
    - Per disk - source and target keys, the target file, mode, transport, bytes to write and written, zero bytes
      skipped, extents, seconds, MB/s, whether every chunk was verified, bytes read back (O(verify_after_write)).
    - C(allocation_known) is false where VDDK could not say which areas of the target hold data; every zero
      of the point was then written (exact, but a thin disk becomes fully allocated).
  returned: always
  type: list
  elements: dict
  sample: [{source_key: 2000, target_key: 2000, target_file: "[ds1] web01/web01.vmdk", mode: full, transport: nbdssl,
            bytes_to_write: 1073741824, bytes_written: 1073741824, zero_chunks_skipped: 10, seconds: 8.2, mb_per_s: 130.9}]
transfer:
  description:
    - The data mover's whole run - seconds, bytes per second, the peak memory of its worker process, and
      C(vddk_cleanup) - what VixDiskLib_Cleanup released before the transfer (C(cleaned) - hot-added disks or
      mounts a killed earlier run had left; C(remaining)).
  returned: when data was written
  type: dict
  sample: {seconds: 8.2, bytes_per_second: 130900000, peak_rss_bytes: 61865984, vddk_cleanup: {cleaned: 0, remaining: 0}}
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

import os

from ansible_collections.vadp.vsphere.plugins.module_utils.files import read_json, write_json_atomically
from ansible_collections.vadp.vsphere.plugins.module_utils.jobs import restore_plan as restore
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere import cbt
from ansible_collections.vadp.vsphere.plugins.module_utils.transfer.mover import TRANSFER_ERRORS, DataMover
from ansible_collections.vadp.vsphere.plugins.module_utils.transfer.plan import RepositorySource, TransferPlan, ZeroExtent
from ansible_collections.vadp.vsphere.plugins.module_utils.repository.store import PointNotFoundError, Repository, RepositoryError
from ansible_collections.vadp.vsphere.plugins.module_utils.repository.third_party import chain_map, raw_image_map
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.facts import vm_facts
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.snapshots import all_snapshots
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
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
            repository=dict(type="path"),
            restore_point=dict(type="str", default="latest"),
            source_vm=dict(type="str"),
            raw_images=dict(type="dict"),
            chains=dict(type="dict"),
            mode=dict(type="str", default="full", choices=["full", "fresh", "changed_only"]),
            disks=dict(type="list", elements="str"),
            disk_map=dict(type="dict"),
            verify=dict(type="bool", default=True),
            verify_after_write=dict(type="bool", default=False),
            short_source=dict(type="str", default="refuse", choices=["refuse", "zero_rest", "keep_rest"]),
            reset_cbt=dict(type="bool", default=True),
            snapshot=dict(type="str"),
            timeout=dict(type="int", default=600),
        )
        sources = ["repository", "raw_images", "chains"]
        super().__init__(argument_spec=spec, supports_check_mode=True,
                         required_one_of=VM_IDENTITY_ONE_OF + [sources],
                         mutually_exclusive=[sources])

    def _source_key(self, repository, facts):
        wanted = self.params["source_vm"]
        if not wanted:
            return facts["vm"]["instance_uuid"]
        keys = sorted({m["vm"]["instance_uuid"] for m in repository.manifests() if wanted in (m["vm"]["name"], m["vm"]["instance_uuid"])})
        if len(keys) != 1:
            raise PointNotFoundError("source_vm %r matches %d VMs in %s (%s)" % (wanted, len(keys), repository.path,
                                                                                 ", ".join(keys) or "none"))
        return keys[0]

    def _plan_from_repository(self, vm, facts, record):
        """(what the source is, the point for the result, [(source, target)], mover plans). record is
        what the last restore through the same state folder left (restored.json)."""
        p = self.params
        repository = Repository(p["repository"])
        point = repository.find_point(self._source_key(repository, facts), p["restore_point"])
        pairs = restore.match_disks(point, facts["disks"], p["disks"], p["disk_map"])
        plans = []
        for source, target in pairs:
            areas = None
            if p["mode"] == "changed_only":
                restore.changed_only_check(source, target, point["vm"]["instance_uuid"] == facts["vm"]["instance_uuid"])
                try:
                    areas = cbt.changed_areas(vm, None, target["key"], source["change_id"], target["capacity_bytes"])
                except cbt.ChangeIdInvalidError as exc:
                    # the same restore run again: the first one reset CBT, and its record proves the disk unchanged since
                    if record.get("point") != point["id"] or not self._unchanged_since_restore(vm, record, [(source, target)]):
                        raise restore.ChangedOnlyRefusedError(
                            "mode changed_only: vSphere no longer knows what changed on disk %s since point %s (CBT was "
                            "reset or turned off since: %s); restore with mode full instead." % (
                                target["key"], point["id"], exc.message))
                    areas = []
            plans.append(restore.disk_plan(repository, point, source, target, p["mode"], p["verify"], areas,
                                           path=self._target_file(target), verify_after_write=p["verify_after_write"]))
        return point["id"], {k: point[k] for k in ("id", "time", "type")}, pairs, plans

    def _plan_from_files(self, facts):
        """The same for raw images or chains, given as {target disk: file}."""
        p = self.params
        kind = "raw_image" if p["raw_images"] else "chain"
        if p["mode"] == "changed_only":
            raise restore.RestoreRefusedError("mode changed_only needs a restore point with CBT change ids; a %s has none"
                                              % kind)
        pairs, plans, identity = [], [], []
        for name, path in sorted((p["raw_images"] or p["chains"]).items()):
            try:
                capacity, pieces = chain_map(path) if kind == "chain" else (os.path.getsize(path), raw_image_map(path))
            except (OSError, ValueError, KeyError) as exc:
                raise RepositoryError("cannot read the %s %s: %s" % (kind.replace("_", " "), path, exc))
            source = {"key": str(name), "label": str(name), "capacity_bytes": capacity}
            [pair] = restore.match_disks({"disks": [source]}, facts["disks"], disk_map={name: name})
            extents = restore.file_source_extents(kind.replace("_", " "), path, capacity, pieces,
                                                  pair[1]["capacity_bytes"], p["short_source"])
            pairs.append(pair)
            plans.append(restore.file_disk_plan(pair[1], extents, p["mode"], path=self._target_file(pair[1]),
                                                verify_after_write=p["verify_after_write"]))
            identity += [[f, os.stat(f).st_size, os.stat(f).st_mtime_ns] for f in plans[-1].source.paths]
        return identity, {"id": None, "time": None, "type": kind}, pairs, plans

    def _target_file(self, target):
        """The file to open: the base disk beneath the restore snapshot for SAN (SAN does not
        write redo logs), the VM's current leaf for every other transport."""
        return target["base_file_name"] if self.params["transport"] == "san" else target["file_name"]

    def _check_transport(self, vm, facts):
        p = self.params
        modes = p["transport"].split(":")
        if "san" in modes and len(modes) > 1:
            raise InvalidSettingsError("transport %r: san cannot be combined with other modes for a restore - it writes the "
                                       "base disk beneath the restore snapshot, the others the current leaf, and VDDK "
                                       "would fall back from one to the other per disk. Give san alone." % p["transport"])
        if modes != ["san"]:
            return
        if not p["snapshot"] and not self.module.check_mode:
            raise restore.SanNeedsSnapshotError("The SAN transport writes through a snapshot: take one with "
                                                "vadp.vsphere.temp_snapshot and pass its moref as snapshot.")
        restore.san_check(vm.name, facts["disks"], facts["vm"]["cbt_enabled"],
                          [n.snapshot._moId for n in all_snapshots(vm)], p["snapshot"])

    def _unchanged_since_restore(self, vm, record, pairs):
        """Whether CBT proves that no disk was written since the recorded restore. Without CBT
        nothing is proven and the restore runs again."""
        for _source, target in pairs:
            change_id = record.get("change_ids", {}).get(str(target["key"]))
            if not change_id:
                return False
            try:
                if cbt.changed_areas(vm, None, target["key"], change_id, target["capacity_bytes"]):
                    return False
            except cbt.ChangeIdInvalidError:
                return False
        return True

    def execute(self, client):
        p = self.params
        vm = self.find_vm(client)
        facts = vm_facts(vm)
        self._check_transport(vm, facts)
        if facts["vm"]["power_state"] != "poweredOff" and self.module.check_mode:
            self.module.warn("%s is %s: the restore itself needs it powered off" % (vm.name, facts["vm"]["power_state"]))
        elif facts["vm"]["power_state"] != "poweredOff":
            raise restore.VmPoweredOnError("%s is %s: VDDK cannot write the disks of a running VM. Power it off first "
                                           "(vadp.vsphere.vm_power state: shutdown-guest)." % (vm.name, facts["vm"]["power_state"]))
        state_dir = p["state_dir"] or default_state_dir(facts["vm"]["instance_uuid"] + "-restore")
        record_path = os.path.join(state_dir, "restored.json")
        record = read_json(record_path, {})
        if p["repository"]:
            source_id, point, pairs, plans = self._plan_from_repository(vm, facts, record)
        else:
            source_id, point, pairs, plans = self._plan_from_files(facts)
        identity = restore.restored_identity(source_id, pairs)
        result = {"changed": True, "vm": facts["vm"], "resumed": False, "cbt_reset": False, "warnings_vddk": None,
                  "point": point, "disks": [_disk_result(s, t, plan, p["mode"]) for (s, t), plan in zip(pairs, plans)]}
        if record.get("identity") == identity and self._unchanged_since_restore(vm, record, pairs):
            result["changed"] = False  # this source is on these disks, and CBT shows no write since
            return result
        if self.module.check_mode:
            return result
        vddk, connection, secrets, result["warnings_vddk"] = self.vddk_connection(client, vm._moId, p["snapshot"])
        try:
            with DataMover(state_dir, vm_key=facts["vm"]["instance_uuid"]) as mover:
                moved = mover.run(TransferPlan("write", vddk, connection, plans), secrets)
        except TRANSFER_ERRORS as exc:
            raise _after_failure(exc, result)
        transfer_fields = ("seconds", "bytes_per_second", "peak_rss_bytes", "vddk_cleanup")
        result["transfer"] = {k: moved["status"][k] for k in transfer_fields}
        cleaned = (moved["status"]["vddk_cleanup"] or {}).get("cleaned")
        if cleaned:
            self.module.warn("VDDK released %d disk(s) an earlier, killed transfer had left hot-added to this host "
                             "(VixDiskLib_Cleanup)" % cleaned)
        by_id = {d["id"]: d for d in moved["status"]["disks"]}
        seconds = max(moved["status"]["seconds"], 1e-6)
        for disk in result["disks"]:
            status = by_id[str(disk["target_key"])]
            written = status["bytes_done"] - status["resumed_from"] - status["zero_bytes_skipped"]
            result["resumed"] = result["resumed"] or status["resumed_from"] > 0
            disk.update(transport=status.get("transport"), bytes_written=written, seconds=seconds,
                        zero_bytes_skipped=disk["zero_bytes_skipped"] + status["zero_bytes_skipped"],
                        mb_per_s=round(written / seconds / 1e6, 1), verified=p["verify"] and p["repository"] is not None,
                        bytes_read_back=status["bytes_verified"])
            if status.get("allocation_known") is False:
                disk["allocation_known"] = False
                self.module.warn("VDDK could not say which areas of %s hold data (QueryAllocatedBlocks is missing or "
                                 "not supported there), so every zero of the point was written: the restore is exact, "
                                 "but a thin disk is now fully allocated." % disk["target_file"])
        if p["reset_cbt"] and cbt.effective(vm)[1]:
            cbt.reset(vm, p["timeout"])
            result["cbt_reset"] = True
        change_ids = {str(d["key"]): d["change_id"] for d in vm_facts(vm)["disks"] if d["change_id"]}
        write_json_atomically(record_path, {"identity": identity, "point": point["id"], "change_ids": change_ids})
        return result


def _after_failure(exc, result):
    """The error to report for a failed transfer. Once anything was written the disks are no
    longer what they were: changed is true, and the message says what they hold now."""
    status = exc.details.get("status") or {}
    # a killed or stalled worker may have written more than its last status says: any disk it opened counts
    crashed = exc.details.get("worker_crashed")
    touched = [d for d in status.get("disks", []) if d.get("writes_started") or (crashed and d.get("state") != "queued")]
    details = dict(exc.details, changed=bool(touched), vm=result["vm"], point=result["point"])
    message = exc.message
    if exc.error_code == "CHUNK_CORRUPT":
        message = "The restore stopped at a damaged chunk, before writing it: " + message
    elif exc.error_code == "READ_BACK_MISMATCH":
        message = "The restore was written but does not read back: %s. Run it again; if it recurs, suspect the storage." % message
    if touched:
        details["disks_partially_restored"] = [{"target_key": d["id"], "target_file": d["path"],
                                                "bytes_written": d["bytes_done"] - d["zero_bytes_skipped"]} for d in touched]
        message += (". PARTIALLY RESTORED: %s now hold part of the point and part of their old data; run the same restore "
                    "again to resume it, or restore another point before using the VM" % ", ".join(
                        d["path"] for d in touched))
    return type(exc)(message, details=details)


def _disk_result(source, target, plan, mode):
    """A disk's part of the result before writing: what the plan will write and skip."""
    to_write = sum(e.length for e in plan.extents if not isinstance(e, ZeroExtent) or mode == "changed_only")
    from_point = isinstance(plan.source, RepositorySource)
    return {"source_key": source["key"], "target_key": target["key"], "target_file": plan.path, "mode": mode,
            "bytes_to_write": to_write, "extents": len(plan.extents),
            "zero_bytes_skipped": source["capacity_bytes"] - to_write if mode == "fresh" and from_point else 0,
            "capacity_grows_by": target["capacity_bytes"] - source["capacity_bytes"]}


def main():
    VmdkRestoreModule().run()


if __name__ == "__main__":
    main()
