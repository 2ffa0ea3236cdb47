# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A restore of a VM's disks from a restore point, raw images or third-party chains: the
refusals checked before anything is written, the transfer, CBT reset, and the record that lets a
second run of the same restore report unchanged. No Ansible imports: the vmdk_restore module and
tests call it alike.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, List, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils._files import read_json, write_json_atomically
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs import restore_plan as plan_of
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import DEFAULT_LEASE_TIMEOUT, SHARED, announce_waits
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import RepositoryError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.third_party import chain_map, raw_image_map
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.connect import VddkSettings, host_slots, vddk_target
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.mover import TRANSFER_ERRORS, DataMover
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.local_dirs import default_state_dir
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import RepositorySource, TransferPlan, ZeroExtent
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.progress import TransferStatus
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere import cbt
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import vm_facts
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.snapshots import all_snapshots

TRANSFER_FIELDS = ("seconds", "bytes_per_second", "peak_rss_bytes", "vddk_cleanup")


@dataclasses.dataclass(frozen=True)
class RestoreOptions:
    """One source: repository (with restore_point, source_vm), raw_images or chains ({disk: file})."""
    vddk: VddkSettings
    repository: Optional[str] = None
    restore_point: str = "latest"
    source_vm: Optional[str] = None
    raw_images: Optional[Dict[str, str]] = None
    chains: Optional[Dict[str, str]] = None
    mode: str = "full"  # full, fresh, changed_only
    disks: Optional[List[str]] = None
    disk_map: Optional[Dict[str, str]] = None
    verify: bool = True
    verify_after_write: bool = False
    short_source: str = "refuse"
    reset_cbt: bool = True
    snapshot: Optional[str] = None
    timeout: int = 600
    state_dir: Optional[str] = None
    lock_timeout: int = DEFAULT_LEASE_TIMEOUT
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None  # how to reach a repository in object storage (s3.OPTIONS)


class RestoreJob:
    """Restores onto vm. warn receives the messages a caller should show (Ansible: module.warn)."""

    def __init__(self, client, vm, options: RestoreOptions, warn: Callable[[str], None] = lambda message: None):
        self.client, self.vm, self.options, self.warn = client, vm, options, warn

    def run(self, check_mode: bool = False) -> dict:
        if not self.options.repository:
            return self._run(check_mode)
        # opened once (an encrypted repository derives its key once); in check mode nothing is leased
        self._repository = Repository(self.options.repository, self.options.encryption_key_file, self.options.s3)
        if check_mode:
            return self._run(check_mode)
        # held from choosing the point to the end of the transfer: no prune removes the point meanwhile
        with self._repository.lease(SHARED, "restore onto %s" % self.vm.name, timeout=self.options.lock_timeout,
                                    on_wait=announce_waits(self.warn)):
            return self._run(check_mode)

    def _run(self, check_mode: bool) -> dict:
        o, vm = self.options, self.vm
        facts = vm_facts(vm)
        self._check_transport(facts, check_mode)
        power = facts["vm"]["power_state"]
        if power != "poweredOff" and check_mode:
            self.warn("%s is %s: the restore itself needs it powered off" % (vm.name, power))
        elif power != "poweredOff":
            raise plan_of.VmPoweredOnError("%s is %s: VDDK cannot write the disks of a running VM. Power it off first "
                                           "(vadp.vsphere.vm_power state: shutdown-guest)." % (vm.name, power))
        state_dir = o.state_dir or default_state_dir(facts["vm"]["instance_uuid"] + "-restore")
        record_path = os.path.join(state_dir, "restored.json")
        record = read_json(record_path, {})
        if o.repository:
            source_id, point, pairs, plans = self._plan_from_repository(facts, record)
        else:
            source_id, point, pairs, plans = self._plan_from_files(facts)
        identity = plan_of.restored_identity(source_id, pairs)
        result = {"changed": True, "vm": facts["vm"], "resumed": False, "cbt_reset": False, "warnings_vddk": None,
                  "point": point, "state_dir": state_dir, "disks": [_disk_result(s, t, plan, o.mode) for (s, t), plan in zip(pairs, plans)]}
        if record.get("identity") == identity and self._unchanged_since_restore(record, pairs):
            result["changed"] = False  # this source is on these disks, and CBT shows no write since
            return result
        if check_mode:
            return result
        target = vddk_target(self.client.settings, o.vddk, vm._moId, o.snapshot)
        result["warnings_vddk"] = target.warning
        try:
            with DataMover(state_dir, vm_key=facts["vm"]["instance_uuid"],
                           host_slots=host_slots(self.client.settings, o.vddk, vm), disks=len(plans)) as mover:
                secrets = dict(target.secrets, **(self._repository.secrets() if o.repository else {}))
                moved = mover.run(TransferPlan("write", target.vddk, target.connection, plans), secrets)
        except TRANSFER_ERRORS as exc:
            raise _after_failure(exc, result)
        self._report(moved, result)
        if o.reset_cbt and cbt.effective(vm)[1]:
            cbt.reset(vm, o.timeout)
            result["cbt_reset"] = True
        change_ids = {str(d["key"]): d["change_id"] for d in vm_facts(vm)["disks"] if d["change_id"]}
        write_json_atomically(record_path, {"identity": identity, "point": point["id"], "change_ids": change_ids})
        return result

    def _plan_from_repository(self, facts, record):
        """(what the source is, the point for the result, [(source, target)], disk plans). record is
        what the last restore through the same state folder left (restored.json)."""
        o = self.options
        repository = self._repository
        source_key = repository.points.vm_key(o.source_vm) if o.source_vm else facts["vm"]["instance_uuid"]
        point = repository.points.find(source_key, o.restore_point)
        pairs = plan_of.match_disks(point, facts["disks"], o.disks, o.disk_map)
        plans = []
        for source, target in pairs:
            areas = None
            if o.mode == "changed_only":
                areas = self._changed_since(point, source, target, facts, record)
            plans.append(plan_of.disk_plan(repository, point, source, target, o.mode, o.verify, areas,
                                           path=self._target_file(target), verify_after_write=o.verify_after_write))
        return point["id"], {k: point[k] for k in ("id", "time", "type")}, pairs, plans

    def _changed_since(self, point, source, target, facts, record):
        """The areas CBT says changed on target since point (changed_only)."""
        plan_of.changed_only_check(source, target, point["vm"]["instance_uuid"] == facts["vm"]["instance_uuid"])
        try:
            return cbt.changed_areas(self.vm, None, target["key"], source["change_id"], target["capacity_bytes"])
        except cbt.ChangeIdInvalidError as exc:
            # the same restore run again: the first one reset CBT, and its record proves the disk unchanged since
            if record.get("point") != point["id"] or not self._unchanged_since_restore(record, [(source, target)]):
                raise plan_of.ChangedOnlyRefusedError(
                    "mode changed_only: vSphere no longer knows what changed on disk %s since point %s (CBT was reset or "
                    "turned off since: %s); restore with mode full instead." % (target["key"], point["id"], exc.message))
            return []

    def _plan_from_files(self, facts):
        """The same for raw images or chains, given as {target disk: file}."""
        o = self.options
        kind = "raw_image" if o.raw_images else "chain"
        if o.mode == "changed_only":
            raise plan_of.RestoreRefusedError("mode changed_only needs a restore point with CBT change ids; a %s has none"
                                              % kind)
        pairs, plans, identity = [], [], []
        for name, path in sorted((o.raw_images or o.chains).items()):
            try:
                capacity, pieces = chain_map(path) if kind == "chain" else (os.path.getsize(path), raw_image_map(path))
            except (OSError, ValueError, KeyError) as exc:
                raise RepositoryError("cannot read the %s %s: %s" % (kind.replace("_", " "), path, exc))
            source = {"key": str(name), "label": str(name), "capacity_bytes": capacity}
            [pair] = plan_of.match_disks({"disks": [source]}, facts["disks"], disk_map={name: name})
            extents = plan_of.file_source_extents(kind.replace("_", " "), path, capacity, pieces,
                                                  pair[1]["capacity_bytes"], o.short_source)
            pairs.append(pair)
            plans.append(plan_of.file_disk_plan(pair[1], extents, o.mode, path=self._target_file(pair[1]),
                                                verify_after_write=o.verify_after_write))
            identity += [[f, os.stat(f).st_size, os.stat(f).st_mtime_ns] for f in plans[-1].source.paths]
        return identity, {"id": None, "time": None, "type": kind}, pairs, plans

    def _target_file(self, target):
        """The file to open: the base disk beneath the restore snapshot for SAN (SAN does not
        write redo logs), the VM's current leaf for every other transport."""
        return target["base_file_name"] if self.options.vddk.transport == "san" else target["file_name"]

    def _check_transport(self, facts, check_mode):
        o = self.options
        modes = o.vddk.transport.split(":")
        if "san" in modes and len(modes) > 1:
            raise InvalidSettingsError("transport %r: san cannot be combined with other modes for a restore - it writes the "
                                       "base disk beneath the restore snapshot, the others the current leaf, and VDDK "
                                       "would fall back from one to the other per disk. Give san alone." % o.vddk.transport)
        if modes != ["san"]:
            return
        if not o.snapshot and not check_mode:
            raise plan_of.SanNeedsSnapshotError("The SAN transport writes through a snapshot: take one with "
                                                "vadp.vsphere.temp_snapshot and pass its moref as snapshot.")
        plan_of.san_check(self.vm.name, facts["disks"], facts["vm"]["cbt_enabled"],
                          [n.snapshot._moId for n in all_snapshots(self.vm)], o.snapshot)

    def _unchanged_since_restore(self, record, pairs):
        """Whether CBT proves that no disk was written since the recorded restore. Without CBT
        nothing is proven and the restore runs again."""
        for _source, target in pairs:
            change_id = record.get("change_ids", {}).get(str(target["key"]))
            if not change_id:
                return False
            try:
                if cbt.changed_areas(self.vm, None, target["key"], change_id, target["capacity_bytes"]):
                    return False
            except cbt.ChangeIdInvalidError:
                return False
        return True

    def _report(self, moved, result):
        """The transfer's figures into the result, per disk and in total."""
        result["transfer"] = {k: getattr(moved, k) for k in TRANSFER_FIELDS}
        cleaned = (moved.vddk_cleanup or {}).get("cleaned")
        if cleaned:
            self.warn("VDDK released %d disk(s) an earlier, killed transfer had left hot-added to this host "
                      "(VixDiskLib_Cleanup)" % cleaned)
        seconds = max(moved.seconds, 1e-6)
        for disk in result["disks"]:
            status = moved.disk(str(disk["target_key"]))
            written = status.bytes_done - status.resumed_from - status.zero_bytes_skipped
            result["resumed"] = result["resumed"] or status.resumed_from > 0
            disk.update(transport=status.transport, bytes_written=written, seconds=seconds,
                        zero_bytes_skipped=disk["zero_bytes_skipped"] + status.zero_bytes_skipped,
                        mb_per_s=round(written / seconds / 1e6, 1),
                        verified=self.options.verify and self.options.repository is not None,
                        bytes_read_back=status.bytes_verified)
            if status.allocation_known is False:
                disk["allocation_known"] = False
                self.warn("VDDK could not say which areas of %s hold data (QueryAllocatedBlocks is missing or not "
                          "supported there), so every zero of the point was written: the restore is exact, but a thin "
                          "disk is now fully allocated." % disk["target_file"])


def _after_failure(exc, result):
    """The error to report for a failed transfer. Once anything was written the disks are no
    longer what they were: changed is true, and the message says what they hold now."""
    status = exc.details.get("status")
    disks = TransferStatus.from_json(status, "the failed transfer's status").disks if status else ()
    # a killed or stalled worker may have written more than its last status says: any disk it opened counts
    crashed = exc.details.get("worker_crashed")
    touched = [d for d in disks if d.writes_started or (crashed and d.state != "queued")]
    details = dict(exc.details, changed=bool(touched), vm=result["vm"], point=result["point"])
    message = exc.message
    if exc.error_code == "CHUNK_CORRUPT":
        message = "The restore stopped at a damaged chunk, before writing it: " + message
    elif exc.error_code == "READ_BACK_MISMATCH":
        message = "The restore was written but does not read back: %s. Run it again; if it recurs, suspect the storage." % message
    if touched:
        details["disks_partially_restored"] = [{"target_key": d.id, "target_file": d.path,
                                                "bytes_written": d.bytes_done - d.zero_bytes_skipped} for d in touched]
        message += (". PARTIALLY RESTORED: %s now hold part of the point and part of their old data; run the same restore "
                    "again to resume it, or restore another point before using the VM" % ", ".join(
                        d.path for d in touched))
    return type(exc)(message, details=details)


def _disk_result(source, target, plan, mode):
    """A disk's part of the result before writing: what the plan will write and skip."""
    to_write = sum(e.length for e in plan.extents if not isinstance(e, ZeroExtent) or mode == "changed_only")
    from_point = isinstance(plan.source, RepositorySource)
    return {"source_key": source["key"], "target_key": target["key"], "target_file": plan.path, "mode": mode,
            "bytes_to_write": to_write, "extents": len(plan.extents),
            "zero_bytes_skipped": source["capacity_bytes"] - to_write if mode == "fresh" and from_point else 0,
            "capacity_grows_by": target["capacity_bytes"] - source["capacity_bytes"]}
