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
    description:
      - The repository's folder (created when it does not exist), or V(s3://bucket/prefix) for one in object
        storage (O(s3); the bucket must exist, the prefix is made a repository when it holds none).
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
  immutable_days:
    description:
      - Make the point immutable for this many days (fractions allowed); until then prune keeps it and a delete
        fails with C(POINT_IMMUTABLE) and its date. The repository's own default (O(repository_immutable_days)) is
        the least a point gets.
      - In a bucket every object the point needs is locked with S3 Object Lock in compliance mode, which nobody, the
        bucket's owner included, can shorten or lift. The bucket must have been created with Object Lock, and the
        credentials need C(s3:PutObjectRetention).
      - In a folder (hardened mode) every file the point needs gets the immutable attribute, as C(chattr +i) sets it,
        with its date in an extended attribute; nobody can change or delete such a file until a process with
        C(CAP_LINUX_IMMUTABLE) lifts the attribute - which prune and garbage collection do only after the date. It needs
        a file system with the attribute and user extended attributes (ext4, XFS) and the module run as root (or with
        that capability). It guards against deletion by every other user and by mistake, not against root on the
        backup host (for that, use a bucket).
      - Objects are locked ahead, to the date plus a third of the period (at most 10 days more), so the next backups
        find the chunks they share locked already and lock only their new ones (docs/restore-point-format.md,
        "Immutable points").
      - Where a lock cannot be had, the backup fails with C(IMMUTABILITY_UNAVAILABLE), saying why, before the VM is
        touched.
    type: float
  repository_immutable_days:
    description:
      - For a new repository, its default immutability - every point stored in it, by any backup, is immutable at
        least this many days (O(immutable_days) may ask for more, never less).
      - Recorded in the repository's settings when the first backup creates it, and fixed from then on - given for an
        existing repository with another default, the backup warns and keeps the repository's.
      - The needs of O(immutable_days) apply, to this backup and every later one.
    type: float
  anomaly:
    description:
      - When the new point is marked suspicious, as ransomware at work would look - its manifest then holds C(anomaly)
        with the reasons and figures, the module warns, vadp.vsphere.restore_point_info lists it, and
        O(vadp.vsphere.vmdk_restore#module:restore_point=clean) skips it. Compared, per disk, with the VM's last
        O(anomaly.history) points that were not suspicious themselves (docs/ransomware.md has the measurements behind
        the defaults).
      - C(change_spike) - CBT's changed bytes at least O(anomaly.change_factor) times their median there, and at least
        O(anomaly.min_changed_percent) of the disk.
      - C(incompressible) - at least O(anomaly.min_new_mib) MiB of new data, of which about
        O(anomaly.incompressible_percent) or more does not compress (encrypted data does not) - estimated from how it
        stored against how this VM's new data usually stores; a VM whose new data usually stores above 0.8 of its size
        is judged by its change only.
      - A full backup's disks and disks with fewer than O(anomaly.min_history) earlier incrementals are not judged.
    type: dict
    suboptions:
      enabled: {description: Judge the new point; false records no C(anomaly) (the point is never suspicious)., type: bool, default: true}
      history: {description: How many earlier points to compare with., type: int, default: 7}
      min_history: {description: Fewer earlier incrementals than this and a disk is not judged., type: int, default: 3}
      change_factor: {description: Changed bytes against their median in the history., type: float, default: 4.0}
      min_changed_percent: {description: The least part of the disk (per cent) a change spike must cover., type: float, default: 10.0}
      incompressible_percent: {description: The part of the new data (per cent) that must not compress., type: float, default: 50.0}
      min_new_mib: {description: The least new data (MiB) whose compressibility is judged., type: int, default: 64}
  chunk_size:
    description:
      - The chunk size of a new repository, bytes (fixed for its life; a power of two from 64 KiB to 64 MiB).
      - Not given, 1 MiB (1048576) for a folder and 4 MiB (4194304) for a bucket. Smaller chunks make
        C(changed_only) restores read less after small changes; larger ones mean fewer objects (each a
        request in a bucket) and a smaller index.
    type: int
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
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
  - vadp.vsphere.repository_lease
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

- name: Backup into a hardened folder, every point immutable for 14 days at least (run as root)
  vadp.vsphere.vm_backup:
    name: web01
    repository: /srv/hardened/vsphere
    repository_immutable_days: 14
    vddk_libdir: /opt/vmware-vix-disklib-distrib
'''

RETURN = r'''
vm:
  description:
    - The VM backed up, as it was when the backup started (name, instance_uuid, power_state, cbt_enabled and the
      rest of vadp.vsphere.vm_info's RV(vadp.vsphere.vm_info#module:vm)).
  returned: always
  type: dict
  sample: {name: web01, instance_uuid: 5003c4e2-6a4c-9a3a-0f1b-2f6e1c9d8a10, power_state: poweredOff, cbt_enabled: true}
leftover_snapshots_removed:
  description: Snapshots an earlier, interrupted backup of this VM left (named vadp-backup-*), removed before this one.
  returned: always
  type: list
  elements: dict
  sample: [{name: vadp-backup-20261124T210000Z, moref: snapshot-123}]
point_id: {description: The new restore point's id., returned: success, type: str, sample: 20261125T210000Z-3f9a2c}
immutable_until:
  description: When the point is immutable, the date (UTC) before which nobody can delete it; null when it is not.
  returned: success
  type: str
  sample: "2026-12-25T21:00:00Z"
type: {description: C(full) or C(incremental)., returned: always, type: str, sample: incremental}
time: {description: The point's time (UTC)., returned: success, type: str, sample: "2026-11-25T21:00:00Z"}
parent: {description: The point the incremental builds on (null for a full)., returned: always, type: str, sample: 20261124T210000Z-a1b2c3}
fallback_reasons:
  description: Per disk key, why an incremental became a full.
  returned: always
  type: dict
  sample: {"2000": the last backup's change id is no longer valid}
anomaly:
  description:
    - Whether the point is marked C(suspicious), the C(reasons) (each with C(reason), C(disk) and a C(message) with
      the figures), per disk the figures judged (C(changed_bytes), C(new_bytes), C(stored_bytes), C(ratio),
      C(incompressible_percent), and the history's C(median_changed_bytes) and C(usual_ratio)), the points compared
      with and the thresholds. Null with O(anomaly.enabled=false).
  returned: success
  type: dict
  sample: {suspicious: true, reasons: [{reason: incompressible, disk: 2000, message: "disk Hard disk 1: 230.0 MiB of new data stored at 0.97 of its size ..."}]}
bytes_read: {description: Bytes read from the disks., returned: success, type: int, sample: 67108864}
bytes_stored: {description: Bytes added to the repository (compressed; new chunks only)., returned: success, type: int, sample: 12345678}
new_chunks: {description: Chunks stored for the first time., returned: success, type: int, sample: 16}
reused_chunks: {description: Chunks read but already in the repository., returned: success, type: int, sample: 3}
seconds: {description: Duration of the data transfer., returned: success, type: float, sample: 12.5}
peak_rss_bytes:
  description: The data mover worker's peak resident memory. It depends on the chunk size, not on the disks' size.
  returned: success
  type: int
  sample: 62914560
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

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.anomaly import AnomalyThresholds
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.backup import BackupJob, BackupOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.backup_plan import DEFAULT_REDACT
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    repository_access_argument_spec,
    repository_lease_argument_spec,
    vddk_argument_spec,
    vm_identity_argument_spec,
)


class VmBackupModule(VsphereModule):
    def __init__(self):
        spec = vm_identity_argument_spec()
        spec.update(vddk_argument_spec("hotadd:nbdssl:nbd"))
        spec.update(repository_access_argument_spec())
        spec.update(repository_lease_argument_spec())
        spec.update(
            repository=dict(type="path", required=True),
            type=dict(type="str", default="auto", choices=["auto", "full", "incremental"]),
            disks=dict(type="list", elements="str"),
            quiesce=dict(type="bool", default=False),
            redact_extra_config=dict(type="list", elements="str", default=list(DEFAULT_REDACT)),
            chunk_size=dict(type="int"),
            immutable_days=dict(type="float"),
            repository_immutable_days=dict(type="float"),
            timeout=dict(type="int", default=BackupOptions.timeout),
            anomaly=dict(type="dict", options={field.name: dict(type=type(field.default).__name__, default=field.default)
                                               for field in dataclasses.fields(AnomalyThresholds)}),
        )
        super().__init__(argument_spec=spec, required_one_of=VM_IDENTITY_ONE_OF,
                         supports_check_mode=True)

    def execute(self, client):
        options = self.options(BackupOptions, vddk=self.vddk_settings(),
                               anomaly=AnomalyThresholds.from_options(self.params["anomaly"]))
        return BackupJob(client, self.find_vm(client), options, warn=self.module.warn).run(self.module.check_mode)


def main():
    VmBackupModule().run()


if __name__ == "__main__":
    main()
