#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: vm_backup
short_description: Back a VM up into a restore point repository, full or incremental through CBT
description:
  - Makes a restore point the way VADP backups are made - a temporary snapshot, the configuration
    as it was at that snapshot, and per disk the data read through VDDK from the snapshot's files -
    every allocated area for a full, or the areas CBT reports changed since the last point for an
    incremental (QueryChangedDiskAreas asked page after page until the disk is covered).
  - Every point is a logical full in the repository's format (docs/restore-point-format.md) - chunks
    already stored are not stored again, so an incremental stores only what changed.
  - When the last point's change id is no longer valid (CBT was reset, the disk resized) the disk is
    backed up in full and RV(fallback_reasons) says why.
  - The temporary snapshot is always removed, also when the backup fails. An interrupted backup
    leaves no visible point; the chunks it stored are reused by the next run.
  - Check mode reports the kind of backup and the disks, without taking a snapshot.
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options:
  repository:
    description: The repository's folder (created when it does not exist).
    type: path
    required: true
  type:
    description:
      - C(auto) makes an incremental when the VM has an earlier point, a full otherwise; C(full)
        always reads every allocated area; C(incremental) falls back to a full (and says why) when
        it cannot be one.
    type: str
    default: auto
    choices: [auto, full, incremental]
  disks:
    description:
      - The disks to back up, by device key, label or address (C(scsi0:1)); by default every disk a snapshot covers.
      - Physical-mode RDMs and independent disks are not in snapshots; they are skipped (listed in skipped_disks), and
        naming one here is an error (error_code C(DISK_NOT_SNAPSHOTTED)).
    type: list
    elements: str
  quiesce:
    description: Quiesce the guest file systems (VMware Tools) for the snapshot.
    type: bool
    default: false
  redact_extra_config:
    description: C(extraConfig) keys (shell patterns) whose values are not stored in the restore point.
    type: list
    elements: str
    default: ['guestinfo.*']
  chunk_size:
    description: The chunk size of a new repository, bytes (fixed for its life).
    type: int
    default: 4194304
  timeout:
    description: Seconds to wait for each snapshot task.
    type: int
    default: 3600
  transport:
    description:
      - VDDK transport modes to try, in order, separated by colons. HotAdd needs the module to run in
        a VM of the same vSphere; NBDSSL and NBD work from anywhere.
    type: str
    default: hotadd:nbdssl:nbd
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.connection.vm_identity
  - vadp.vsphere.connection.vddk
attributes:
  check_mode:
    support: full
    description: Reports what kind of backup would be made, without a snapshot.
'''

EXAMPLES = r'''
- name: Nightly backup (incremental after the first)
  vadp.vsphere.vm_backup:
    name: web01
    repository: /backups/vsphere
    vddk_libdir: /opt/vmware-vix-disklib-distrib
  register: backup

- name: Report
  ansible.builtin.debug:
    msg: "{{ backup.point_id }} ({{ backup.type }}): read {{ backup.bytes_read }} B, stored {{ backup.bytes_stored }} B"
'''

RETURN = r'''
point_id: {description: The new restore point's id., returned: success, type: str, sample: 20261125T210000Z-3f9a2c}
type: {description: C(full) or C(incremental)., returned: always, type: str, sample: incremental}
time: {description: The point's time (UTC)., returned: success, type: str, sample: "2026-11-25T21:00:00Z"}
parent: {description: The point the incremental builds on (null for a full)., returned: always, type: str, sample: 20261124T210000Z-a1b2c3}
fallback_reasons:
  description: Per disk key, why an incremental became a full.
  returned: always
  type: dict
  sample: {"2000": the last backup's change id is no longer valid}
bytes_read: {description: Bytes read from the disks., returned: success, type: int, sample: 67108864}
bytes_stored: {description: Bytes added to the repository (compressed; new chunks only)., returned: success, type: int, sample: 12345678}
new_chunks: {description: Chunks stored for the first time., returned: success, type: int, sample: 16}
reused_chunks: {description: Chunks read but already in the repository., returned: success, type: int, sample: 3}
seconds: {description: Duration of the data transfer., returned: success, type: float, sample: 12.5}
disks:
  description: Per disk - key, label, kind, bytes to read and the chunk statistics.
  returned: always
  type: list
  elements: dict
  sample: [{key: 2000, label: Hard disk 1, kind: incremental, bytes_to_read: 4194304}]
skipped_disks:
  description: Disks left out because vSphere does not snapshot them (physical-mode RDMs, independent disks), with why.
  returned: always
  type: list
  elements: dict
  sample: [{key: 2001, label: Hard disk 2, why: "physical-mode RDM or independent disk: not in snapshots"}]
warnings_vddk:
  description: A warning about the server thumbprint when it could not be verified, or null.
  returned: always
  type: str
  sample: null
'''

import dataclasses
import datetime
import os

from ansible_collections.vadp.vsphere.plugins.module_utils.jobs import backup_plan as backup
from ansible_collections.vadp.vsphere.plugins.module_utils.transfer.mover import TRANSFER_ERRORS, DataMover
from ansible_collections.vadp.vsphere.plugins.module_utils.transfer.plan import TransferPlan
from ansible_collections.vadp.vsphere.plugins.module_utils.recreate.nvram import download_nvram
from ansible_collections.vadp.vsphere.plugins.module_utils.repository.store import (
    PointNotFoundError,
    Repository,
    new_point_id,
)
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.facts import disks_of, vm_facts
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    default_state_dir,
    vddk_argument_spec,
    vm_identity_argument_spec,
)
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VsphereError
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.snapshots import all_snapshots, summary
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.tasks import wait_for_task

try:
    from pyVmomi import vim
except ImportError:
    pass  # VsphereModule reports the missing library


BACKUP_SNAPSHOT_PREFIX = "vadp-backup-"
BACKUP_SNAPSHOT_DESCRIPTION = "vadp.vsphere backup"


class SnapshotLeftError(VsphereError):
    """The point is stored, but the backup's snapshot could not be removed."""
    error_code = "BACKUP_SNAPSHOT_LEFT"


def _is_backup_snapshot(node):
    """A snapshot this module took (its name and description), never one of the user's."""
    return node.name.startswith(BACKUP_SNAPSHOT_PREFIX) and node.description == BACKUP_SNAPSHOT_DESCRIPTION


def _outside_snapshots(disk):
    """vSphere does not snapshot these, so a backup cannot read them through its snapshot."""
    physical_rdm = disk["rdm"] is not None and disk["rdm"].get("compatibility_mode") == "physicalMode"
    return physical_rdm or (disk["disk_mode"] or "").startswith("independent")


class VmBackupModule(VsphereModule):
    def __init__(self):
        spec = vm_identity_argument_spec()
        spec.update(vddk_argument_spec("hotadd:nbdssl:nbd"))
        spec.update(
            repository=dict(type="path", required=True),
            type=dict(type="str", default="auto", choices=["auto", "full", "incremental"]),
            disks=dict(type="list", elements="str"),
            quiesce=dict(type="bool", default=False),
            redact_extra_config=dict(type="list", elements="str", default=list(backup.DEFAULT_REDACT)),
            chunk_size=dict(type="int", default=4194304),
            timeout=dict(type="int", default=3600),
        )
        super().__init__(argument_spec=spec, required_one_of=VM_IDENTITY_ONE_OF,
                         supports_check_mode=True)

    def _selected(self, config):
        wanted = self.params["disks"]
        facts = disks_of(config)
        chosen = [f for f in facts if not wanted or set(wanted) & {str(f["key"]), f["label"], f["address"]}]
        if wanted and len(chosen) != len(wanted):
            self.module.fail_json(msg="disks %s: the VM's disks are %s" % (wanted, ", ".join(
                "%s (%s, %s)" % (f["key"], f["label"], f["address"]) for f in facts)), error_code="INVALID_ARGUMENT")
        unsnapshotted = [f for f in chosen if _outside_snapshots(f)]
        if wanted and unsnapshotted:
            self.module.fail_json(msg="disks %s cannot be backed up: vSphere leaves physical-mode RDMs and independent "
                                      "disks out of snapshots, so there is no frozen copy to read" % ", ".join(
                                          "%s (%s)" % (f["key"], f["label"]) for f in unsnapshotted), error_code="DISK_NOT_SNAPSHOTTED")
        self.skipped = [{"key": f["key"], "label": f["label"], "why": "physical-mode RDM or independent disk: not in snapshots"}
                        for f in unsnapshotted]
        keys = [f["key"] for f in chosen if f not in unsnapshotted]
        if not keys:
            self.module.fail_json(msg="%s has no disk a snapshot covers (physical-mode RDMs and independent disks are left "
                                      "out of snapshots)" % config.name, error_code="DISK_NOT_SNAPSHOTTED")
        return [d for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk) and d.key in keys]

    def execute(self, client):
        p = self.params
        vm = self.find_vm(client)
        facts = vm_facts(vm)
        vm_key = facts["vm"]["instance_uuid"]
        repository = Repository.create(p["repository"], chunk_size=p["chunk_size"], dry_run=self.module.check_mode)
        if repository is not None and not self.module.check_mode:
            repository.check_writable()  # a read-only repository is refused before the VM is touched
        parent = None
        if p["type"] != "full" and repository is not None:
            try:
                parent = repository.find_point(vm_key, "latest")
            except PointNotFoundError:
                parent = None
        result = {"changed": True, "vm": facts["vm"], "parent": parent["id"] if parent else None,
                  "type": "incremental" if parent else "full", "fallback_reasons": {}, "warnings_vddk": None}
        if p["type"] == "incremental" and parent is None:
            result["fallback_reasons"]["all"] = "the VM has no earlier restore point"
        selected = self._selected(vm.config)  # bad selections are refused before the snapshot
        result["skipped_disks"] = self.skipped
        leftovers = [n for n in all_snapshots(vm) if _is_backup_snapshot(n)]
        result["leftover_snapshots_removed"] = [summary(n) for n in leftovers]
        if self.module.check_mode:
            result["disks"] = [{"key": d.key, "label": d.deviceInfo.label} for d in selected]
            return result
        for node in leftovers:  # an earlier backup could not remove its own snapshot: do it now
            wait_for_task(node.snapshot.RemoveSnapshot_Task(removeChildren=False), timeout=p["timeout"])
        now = datetime.datetime.now(datetime.timezone.utc)
        point_id = new_point_id(now)
        result["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        vddk, connection, secrets, result["warnings_vddk"] = self.vddk_connection(client, vm._moId, read_only=True)
        with DataMover(p["state_dir"] or default_state_dir(vm_key + "-backup"), vm_key=vm_key) as mover:
            mover.access(vddk, connection, secrets, prepare=True)  # VDDK: PrepareForAccess before the snapshot
            try:
                snapshot = wait_for_task(vm.CreateSnapshot_Task(BACKUP_SNAPSHOT_PREFIX + point_id, BACKUP_SNAPSHOT_DESCRIPTION,
                                                                False, p["quiesce"]), timeout=p["timeout"])
                try:
                    self._back_up(client, vm, facts, repository, parent, snapshot, point_id, result,
                                  (mover, vddk, dataclasses.replace(connection, snapshot_ref=snapshot._moId), secrets))
                finally:
                    self._remove_backup_snapshot(snapshot, point_id, result)
            finally:
                self._end_access(mover, vddk, connection, secrets)
        return result

    def _remove_backup_snapshot(self, snapshot, point_id, result):
        """Remove the backup's snapshot. If that fails once the point is stored, the point is good
        and the run changed the repository: say so, name the snapshot left behind, and leave its
        removal to the next backup. If the backup itself failed, its own error stays the one raised."""
        try:
            wait_for_task(snapshot.RemoveSnapshot_Task(removeChildren=False), timeout=self.params["timeout"])
        except VsphereError as exc:
            if "point_id" not in result:
                self.module.warn("The backup snapshot %s%s (%s) could not be removed either: %s. The next backup removes "
                                 "it." % (BACKUP_SNAPSHOT_PREFIX, point_id, snapshot._moId, exc.message))
                return
            raise SnapshotLeftError(
                "Point %s is stored and complete, but the backup snapshot %s%s (%s) could not be removed: %s. It stays "
                "on the VM and grows until removed: the next backup removes it first, or remove it now with "
                "vadp.vsphere.temp_snapshot (state: absent, snapshot_moref: %s)." % (
                    point_id, BACKUP_SNAPSHOT_PREFIX, point_id, snapshot._moId, exc.message, snapshot._moId),
                details=dict(result, changed=True, leftover_snapshot={"name": BACKUP_SNAPSHOT_PREFIX + point_id,
                                                                      "moref": snapshot._moId}))

    def _end_access(self, mover, vddk, connection, secrets):
        """EndAccess after the snapshot is gone; a failure here must not hide the backup's own."""
        try:
            mover.access(vddk, connection, secrets, prepare=False)
        except TRANSFER_ERRORS as exc:
            self.module.warn("EndAccess failed, so vCenter may still refuse Storage vMotion of this VM until the next "
                             "backup or restore ends: %s" % exc.message)

    def _back_up(self, client, vm, facts, repository, parent, snapshot, point_id, result, transfer):
        writer = repository.begin_point(facts["vm"]["instance_uuid"], point_id)
        try:
            self._fill_point(client, vm, facts, repository, parent, snapshot, writer, result, transfer)
        except BaseException:
            writer.abandon()  # no manifest, so nothing refers to what it holds: a failed run leaves no folder
            raise

    def _fill_point(self, client, vm, facts, repository, parent, snapshot, writer, result, transfer):
        p = self.params
        mover, vddk, connection, secrets = transfer
        config = snapshot.config
        devices_by_key = {d.key: d for d in config.hardware.device}
        parent_disks = {d["key"]: d for d in parent["disks"]} if parent else {}
        plans, kinds = [], {}
        for disk in self._selected(config):
            parent_disk = parent_disks.get(disk.key)
            parent_index = os.path.join(repository.point_folder(parent), parent_disk["index"]) if parent_disk else None
            index_name = "disk-%s.index" % disk.key
            plan, kind, reason, areas, change_id = backup.disk_plan(
                vm, snapshot, disk, repository, parent_disk, parent_index, os.path.join(writer.folder, index_name))
            if reason and parent is not None:
                result["fallback_reasons"][str(disk.key)] = reason
            plans.append(plan)
            kinds[disk.key] = (kind, index_name, areas, change_id)
        moved = mover.run(TransferPlan("read", vddk, connection, plans, access_managed=True), secrets)
        by_id = {d["id"]: d for d in moved["status"]["disks"]}
        nvram = download_nvram(client, vm, facts["vm"]["datacenter"])
        config_value, redacted = backup.config_json(config, p["redact_extra_config"])
        manifest_disks, totals = [], {"bytes_read": 0, "stored_bytes": 0, "new_chunks": 0, "reused_chunks": 0}
        for disk in self._selected(config):
            kind, index_name, areas, change_id = kinds[disk.key]
            status = by_id[str(disk.key)]
            for k in totals:
                totals[k] += status["stats"][k]
            manifest_disks.append(backup.manifest_disk(disk, devices_by_key, index_name, status["metadata"], change_id,
                                                       areas, dict(status["stats"], kind=kind)))
        point_type = "incremental" if parent and all(k[0] == "incremental" for k in kinds.values()) else "full"
        identity = dict(facts["vm"], moref=vm._moId, vcenter=p["hostname"])
        vm_fields = ("name", "uuid", "instance_uuid", "moref", "vcenter", "datacenter", "folder", "host", "cluster",
                     "resource_pool")
        manifest = writer.commit({
            "type": point_type, "parent": parent["id"] if parent else None,
            "time": result["time"],
            "vm": {k: identity.get(k) for k in vm_fields},
            "config": {"format": "pyvmomi-json", "value": config_value}, "redacted_extra_config": redacted,
            "nvram": writer.write_file("nvram", nvram) if nvram is not None else None,
            "disks": manifest_disks})
        result.update(point_id=manifest["id"], type=point_type, bytes_read=totals["bytes_read"],
                      bytes_stored=totals["stored_bytes"], new_chunks=totals["new_chunks"],
                      reused_chunks=totals["reused_chunks"], seconds=moved["status"]["seconds"],
                      disks=[{"key": d["key"], "label": d["label"], "kind": d["stats"]["kind"],
                              "bytes_to_read": plan.bytes_total(), "stats": d["stats"]}
                             for d, plan in zip(manifest_disks, plans)])


def main():
    VmBackupModule().run()


if __name__ == "__main__":
    main()
