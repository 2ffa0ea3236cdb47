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
      - The repository's folder (docs/restore-point-format.md), or V(s3://bucket/prefix) for one in object storage
        (O(s3)). One of O(repository), O(raw_images) and O(chains) is the source.
    type: path
  restore_point:
    description:
      - The point - an id, C(latest), C(clean) (the newest point neither marked suspicious nor found infected by its
        last scan), or an ISO 8601 time meaning the last point at or before it.
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
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
  - vadp.vsphere.repository_lease
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
vm:
  description:
    - The VM as it was before the run (name, instance_uuid, power_state, cbt_enabled and the rest of
      vadp.vsphere.vm_info's RV(vadp.vsphere.vm_info#module:vm)).
  returned: always
  type: dict
  sample: {name: web01, instance_uuid: 5003c4e2-6a4c-9a3a-0f1b-2f6e1c9d8a10, power_state: poweredOff, cbt_enabled: true}
state_dir:
  description:
    - The folder that holds the transfer's plan, checkpoint and progress (O(state_dir), or the default for this VM).
    - Give it to M(vadp.vsphere.transfer_status) to follow the transfer, and keep it to resume one that failed.
  returned: always
  type: str
  sample: /root/.vadp/transfers/5003c4e2-6a4c-9a3a-0f1b-2f6e1c9d8a10-restore
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
            bytes_to_write: 1073741824, bytes_written: 1073741824, zero_bytes_skipped: 41943040, seconds: 8.2, mb_per_s: 130.9}]
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

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.restore import RestoreJob, RestoreOptions
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    repository_access_argument_spec,
    repository_lease_argument_spec,
    vddk_argument_spec,
    vm_identity_argument_spec,
)


class VmdkRestoreModule(VsphereModule):
    def __init__(self):
        spec = vm_identity_argument_spec()
        spec.update(vddk_argument_spec("nbdssl:nbd"))
        spec.update(repository_access_argument_spec())
        spec.update(repository_lease_argument_spec())
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

    def execute(self, client):
        options = self.options(RestoreOptions, vddk=self.vddk_settings())
        return RestoreJob(client, self.find_vm(client), options, warn=self.module.warn).run(self.module.check_mode)


def main():
    VmdkRestoreModule().run()


if __name__ == "__main__":
    main()
