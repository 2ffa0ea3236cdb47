# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A backup of one VM into a repository: PrepareForAccess, a snapshot, the disks read through it
(full or changed areas only), the snapshot's config and NVRAM, the point committed, the snapshot
removed, EndAccess. No Ansible imports: the vm_backup module and tests call it alike.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Callable, List, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError, VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs import backup_plan
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.anomaly import AnomalyThresholds, judge
from ansible_collections.vadp.vsphere.plugins.module_utils._recreate.nvram import download_nvram
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointNotFoundError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.immutability import RetentionLock, objects_locked_until, stamp
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.points import new_point_id
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import open_storage
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.connect import VddkSettings, host_slots, vddk_target
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import DEFAULT_LEASE_TIMEOUT, SHARED, announce_waits
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.mover import TRANSFER_ERRORS, DataMover
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.local_dirs import default_state_dir
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import TransferPlan
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import vm_facts
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.snapshots import all_snapshots, find_snapshot, summary
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import DEFAULT_TASK_TIMEOUT, wait_for_task

BACKUP_SNAPSHOT_PREFIX = "vadp-backup-"
BACKUP_SNAPSHOT_DESCRIPTION = "vadp.vsphere backup"
VM_FIELDS = ("name", "uuid", "instance_uuid", "moref", "vcenter", "datacenter", "folder", "host", "cluster", "resource_pool")


class SnapshotLeftError(VadpError):
    """The point is stored, but the backup's snapshot could not be removed."""
    error_code = "BACKUP_SNAPSHOT_LEFT"


class SnapshotLostError(VadpError):
    """The backup's snapshot was gone before the point was committed: what was read may hold
    writes made after it, so no point is stored."""
    error_code = "BACKUP_SNAPSHOT_LOST"


@dataclasses.dataclass(frozen=True)
class BackupOptions:
    repository: str
    vddk: VddkSettings
    type: str = "auto"  # auto, full, incremental
    disks: Optional[List[str]] = None
    quiesce: bool = False
    redact_extra_config: List[str] = dataclasses.field(default_factory=lambda: list(backup_plan.DEFAULT_REDACT))
    chunk_size: Optional[int] = None  # a new repository's; None: the storage's default (store.default_chunk_size)
    timeout: int = DEFAULT_TASK_TIMEOUT
    state_dir: Optional[str] = None
    lock_timeout: int = DEFAULT_LEASE_TIMEOUT
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None  # how to reach a repository in object storage (s3.OPTIONS)
    immutable_days: Optional[float] = None  # the point is locked (Object Lock, or hardened mode in a folder) this long
    repository_immutable_days: Optional[float] = None  # a new repository's default: every point at least this long
    anomaly: AnomalyThresholds = AnomalyThresholds()  # when a point is marked suspicious (anomaly.py)


def is_backup_snapshot(node) -> bool:
    """A snapshot this job took (its name and description), never one of the user's."""
    return node.name.startswith(BACKUP_SNAPSHOT_PREFIX) and node.description == BACKUP_SNAPSHOT_DESCRIPTION


def _leftover_snapshots(vm):
    """The snapshots earlier backups of vm could not remove (theirs by name)."""
    return [n for n in all_snapshots(vm) if is_backup_snapshot(n)]


class BackupJob:
    """Backs up vm. warn receives the messages a caller should show (Ansible: module.warn)."""

    def __init__(self, client, vm, options: BackupOptions, warn: Callable[[str], None] = lambda message: None):
        self.client, self.vm, self.options, self.warn = client, vm, options, warn

    def run(self, check_mode: bool = False) -> dict:
        o = self.options
        facts = vm_facts(self.vm)
        for option in ("immutable_days", "repository_immutable_days"):  # refused before anything is written or the VM touched
            if getattr(o, option) is not None and getattr(o, option) <= 0:
                raise InvalidSettingsError("%s must be more than 0, not %s" % (option, getattr(o, option)))
        storage = open_storage(o.repository, o.s3)
        if o.immutable_days or o.repository_immutable_days:
            storage.check_object_lock()
        repository = Repository.create(o.repository, chunk_size=o.chunk_size, dry_run=check_mode,
                                       key_file=o.encryption_key_file, s3=o.s3, immutable_days=o.repository_immutable_days)
        default = repository.default_immutable_days if repository else o.repository_immutable_days
        if o.repository_immutable_days and default != o.repository_immutable_days:
            self.warn("repository_immutable_days sets the default of a new repository only: %s keeps the one it was "
                      "created with (%s), which nobody can change" % (o.repository, "%s days" % default if default else "none"))
        if default and not (o.immutable_days or o.repository_immutable_days):
            storage.check_object_lock()  # this caller must be able to lock what the repository requires
        self._immutable_days = max(o.immutable_days or 0, default or 0)
        if check_mode:
            return self._run(facts, repository, check_mode=True)
        repository.check_writable()  # a read-only repository is refused before the VM is touched
        # held from choosing the parent to the manifest: no prune or garbage collection meanwhile
        with repository.lease(SHARED, "backup of %s" % facts["vm"]["name"], timeout=self.options.lock_timeout,
                              on_wait=announce_waits(self.warn)) as self._lease:
            return self._run(facts, repository, check_mode=False)

    def _run(self, facts: dict, repository: Repository, check_mode: bool) -> dict:
        o, vm = self.options, self.vm
        vm_key = facts["vm"]["instance_uuid"]
        parent = self._parent(repository, vm_key)
        result = {"changed": True, "vm": facts["vm"], "parent": parent["id"] if parent else None,
                  "type": "incremental" if parent else "full", "fallback_reasons": {}, "warnings_vddk": None}
        if o.type == "incremental" and parent is None:
            result["fallback_reasons"]["all"] = "the VM has no earlier restore point"
        selected, result["skipped_disks"] = backup_plan.select_disks(vm.config, o.disks)  # refused before the snapshot
        if check_mode:
            result["leftover_snapshots_removed"] = [summary(n) for n in _leftover_snapshots(vm)]
            result["disks"] = [{"key": d.key, "label": d.deviceInfo.label} for d in selected]
            return result
        now = self._started = datetime.datetime.now(datetime.timezone.utc)
        point_id = new_point_id(now)
        self._retention = RetentionLock.for_days(self._immutable_days, now) if self._immutable_days else None
        if self._retention:
            repository.lock_settings(self._retention)
        result["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        target = vddk_target(self.client.settings, o.vddk, vm._moId, read_only=True)
        result["warnings_vddk"] = target.warning
        with DataMover(o.state_dir or default_state_dir(vm_key + "-backup"), vm_key=vm_key,
                       host_slots=host_slots(self.client.settings, o.vddk, vm), disks=len(selected)) as mover:
            # Only now, with this VM's transfer lock held, is a vadp-backup snapshot a leftover: before it,
            # it could be the snapshot a running backup of this VM is reading.
            leftovers = _leftover_snapshots(vm)
            result["leftover_snapshots_removed"] = [summary(n) for n in leftovers]
            for node in leftovers:
                wait_for_task(node.snapshot.RemoveSnapshot_Task(removeChildren=False), timeout=o.timeout)
            mover.access(target.vddk, target.connection, target.secrets, prepare=True)  # before the snapshot
            try:
                snapshot = wait_for_task(vm.CreateSnapshot_Task(BACKUP_SNAPSHOT_PREFIX + point_id, BACKUP_SNAPSHOT_DESCRIPTION,
                                                                False, o.quiesce), timeout=o.timeout)
                try:
                    self._back_up(facts, repository, parent, snapshot, point_id, result, mover,
                                  dataclasses.replace(target, connection=dataclasses.replace(
                                      target.connection, snapshot_ref=snapshot._moId)))
                finally:
                    self._remove_backup_snapshot(snapshot, point_id, result)
            finally:
                self._end_access(mover, target)
        return result

    def _parent(self, repository, vm_key):
        if self.options.type == "full" or repository is None:
            return None
        try:
            return repository.points.find(vm_key, "latest")
        except PointNotFoundError:
            return None

    def _remove_backup_snapshot(self, snapshot, point_id, result):
        """Remove the backup's snapshot. If that fails once the point is stored, the point is good
        and the run changed the repository: say so, name the snapshot left behind, and leave its
        removal to the next backup. If the backup itself failed, its own error stays the one raised."""
        if find_snapshot(self.vm, moref=snapshot._moId) is None:
            return  # removed by someone else meanwhile (BACKUP_SNAPSHOT_LOST says so): nothing to remove
        try:
            wait_for_task(snapshot.RemoveSnapshot_Task(removeChildren=False), timeout=self.options.timeout)
        except VadpError as exc:
            if "point_id" not in result:
                self.warn("The backup snapshot %s%s (%s) could not be removed either: %s. The next backup removes it."
                          % (BACKUP_SNAPSHOT_PREFIX, point_id, snapshot._moId, exc.message))
                return
            raise SnapshotLeftError(
                "Point %s is stored and complete, but the backup snapshot %s%s (%s) could not be removed: %s. It stays "
                "on the VM and grows until removed: the next backup removes it first, or remove it now with "
                "vadp.vsphere.temp_snapshot (state: absent, snapshot_moref: %s)." % (
                    point_id, BACKUP_SNAPSHOT_PREFIX, point_id, snapshot._moId, exc.message, snapshot._moId),
                details=dict(result, changed=True, leftover_snapshot={"name": BACKUP_SNAPSHOT_PREFIX + point_id,
                                                                      "moref": snapshot._moId}))

    def _end_access(self, mover, target):
        """EndAccess after the snapshot is gone; a failure here must not hide the backup's own."""
        try:
            mover.access(target.vddk, target.connection, target.secrets, prepare=False)
        except TRANSFER_ERRORS as exc:
            self.warn("EndAccess failed, so vCenter may still refuse Storage vMotion of this VM until the next backup or "
                      "restore ends: %s" % exc.message)

    def _back_up(self, facts, repository, parent, snapshot, point_id, result, mover, target):
        writer = repository.points.begin(facts["vm"]["instance_uuid"], point_id, lease=self._lease)
        try:
            self._fill_point(facts, repository, parent, snapshot, writer, result, mover, target)
        except BaseException:
            writer.abandon()  # no manifest, so nothing refers to what it holds: a failed run leaves no folder
            raise

    def _fill_point(self, facts, repository, parent, snapshot, writer, result, mover, target):
        o, vm = self.options, self.vm
        config = snapshot.config
        devices_by_key = {d.key: d for d in config.hardware.device}
        parent_disks = {d["key"]: d for d in parent["disks"]} if parent else {}
        selected, _skipped = backup_plan.select_disks(config, o.disks)
        plans, kinds = [], {}
        for disk in selected:
            parent_disk = parent_disks.get(disk.key)
            parent_index = "%s/%s" % (repository.points.folder(parent), parent_disk["index"]) if parent_disk else None
            index_name = "disk-%s.index" % disk.key
            plan, kind, reason, areas, change_id = backup_plan.disk_plan(
                vm, snapshot, disk, repository, parent_disk, parent_index, "%s/%s" % (writer.folder, index_name))
            if reason and parent is not None:
                result["fallback_reasons"][str(disk.key)] = reason
            plans.append(plan)
            kinds[disk.key] = (kind, index_name, areas, change_id)
        immutable = None
        if self._retention:
            lock_carried = self._retention.needs(objects_locked_until(parent) if parent else None)
            plans = [dataclasses.replace(p, lock=self._retention.to_json(), lock_carried=lock_carried) for p in plans]
            # what the next point can count on: its carried chunks' locks end with this point's, or the parent's
            carried_until = objects_locked_until(parent) if parent and not lock_carried else None
            locked_until = self._retention.target if carried_until is None else min(self._retention.target, carried_until)
            immutable = {"until": stamp(self._retention.until), "locked_until": stamp(locked_until)}
        moved = mover.run(TransferPlan("read", target.vddk, target.connection, plans, access_managed=True),
                          dict(target.secrets, **repository.secrets()))
        nvram = download_nvram(self.client, vm, facts["vm"]["datacenter"])
        config_value, redacted = backup_plan.config_json(config, o.redact_extra_config)
        manifest_disks, totals = [], {"bytes_read": 0, "stored_bytes": 0, "new_chunks": 0, "reused_chunks": 0}
        for disk in selected:
            kind, index_name, areas, change_id = kinds[disk.key]
            status = moved.disk(str(disk.key))
            for k in totals:
                totals[k] += status.stats[k]
            manifest_disks.append(backup_plan.manifest_disk(disk, devices_by_key, index_name, status.metadata, change_id,
                                                            areas, dict(status.stats, kind=kind)))
        point_type = "incremental" if parent and all(k[0] == "incremental" for k in kinds.values()) else "full"
        identity = dict(facts["vm"], moref=vm._moId, vcenter=self.client.settings.hostname)
        if find_snapshot(vm, moref=snapshot._moId) is None:
            raise SnapshotLostError(
                "The backup snapshot (%s) of %s was removed while the backup read it, so what was read may hold writes "
                "made after it: no point was stored. Run the backup again, and find what removed the snapshot." % (
                    snapshot._moId, vm.name))
        anomaly = judge(manifest_disks, parent is not None, repository.points.list(facts["vm"]["instance_uuid"]),
                        repository.chunk_size, o.anomaly) if o.anomaly.enabled else None
        manifest = writer.commit({
            "type": point_type, "parent": parent["id"] if parent else None, "time": result["time"],
            "time_precise": self._started.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "vm": {k: identity.get(k) for k in VM_FIELDS},
            "config": {"format": "pyvmomi-json", "value": config_value}, "redacted_extra_config": redacted,
            "nvram": writer.write_file("nvram", nvram, self._retention) if nvram is not None else None,
            "disks": manifest_disks, **({"anomaly": anomaly} if anomaly else {}),
            **({"immutable": immutable} if immutable else {})}, self._retention)
        if anomaly and anomaly["suspicious"]:
            self.warn("point %s of %s is marked suspicious, as ransomware at work would look: %s. Check the VM; "
                      "restore_point clean skips such points" % (manifest["id"], vm.name, "; ".join(
                          r["message"] for r in anomaly["reasons"])))
        result.update(point_id=manifest["id"], type=point_type, bytes_read=totals["bytes_read"], anomaly=anomaly,
                      immutable_until=immutable["until"] if immutable else None,
                      bytes_stored=totals["stored_bytes"], new_chunks=totals["new_chunks"],
                      reused_chunks=totals["reused_chunks"], seconds=moved.seconds,
                      peak_rss_bytes=moved.peak_rss_bytes,
                      disks=[{"key": d["key"], "label": d["label"], "kind": d["stats"]["kind"],
                              "bytes_to_read": plan.bytes_total(), "stats": d["stats"]}
                             for d, plan in zip(manifest_disks, plans)])
