#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: temp_snapshot
short_description: Create, revert to and remove the snapshots a backup or restore works through
description:
  - Manages the temporary snapshot of a restore or backup and returns
    what the next step needs - the snapshot's moref (a SAN or HotAdd connection's C(snapshotRef))
    and every disk's B(current leaf file name) and parent chain (what vmdk_restore must open).
  - Snapshots are found by name in every branch of the tree; two with the same name is an error
    unless O(snapshot_moref) says which.
  - Removal consolidates. When vSphere still reports that the VM needs consolidation afterwards,
    the module consolidates. A removal that fails because the base disk was written under the
    snapshot (a SAN-mode restore) is error_code C(CID_MISMATCH), which says to revert first.
  - Every wait has a timeout; a task that outlives it is reported as still running in vCenter,
    with its key.
  - Idempotent for C(present), C(absent) and C(absent_all). C(reverted) reverts at every run -
    reverting discards what was written since the snapshot, which is its purpose (after a SAN
    write the VM looks the same through the API whether or not a revert is due, so it is never
    skipped).
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options:
  state:
    description:
      - C(present) creates the snapshot unless one with that name exists; C(absent) removes it;
        C(reverted) reverts the VM to it (it must exist, error_code C(SNAPSHOT_NOT_FOUND)
        otherwise); C(absent_all) removes every snapshot of the VM (the first step of a SAN
        restore).
    type: str
    default: present
    choices: [present, absent, reverted, absent_all]
  snapshot_name:
    description:
      - The snapshot's name. Required for C(present).
    type: str
  snapshot_moref:
    description:
      - The snapshot's managed object id (for example C(snapshot-101)), instead of O(snapshot_name).
    type: str
  description:
    description: Description of a new snapshot.
    type: str
    default: ''
  memory:
    description: Whether a new snapshot includes the VM's memory (off for backup and restore work).
    type: bool
    default: false
  quiesce:
    description: Whether to quiesce the guest file systems through VMware Tools for a new snapshot.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for each snapshot task. A task still running then is reported with its key;
        it is not cancelled (vCenter may finish it later).
    type: int
    default: 3600
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.connection.vm_identity
attributes:
  check_mode:
    support: full
    description: Reports what would change without creating, reverting or removing anything.
'''

EXAMPLES = r'''
- name: Take the restore's temporary snapshot
  vadp.vsphere.temp_snapshot:
    name: web01
    snapshot_name: vadp-restore
  register: temp

- name: The files to write, and the snapshotRef for a SAN connection
  ansible.builtin.debug:
    msg: "{{ temp.snapshot.moref }}: {{ temp.disks | map(attribute='file_name') | list }}"

- name: SAN restore clean-up - revert first, then remove
  vadp.vsphere.temp_snapshot:
    name: web01
    snapshot_moref: "{{ temp.snapshot.moref }}"
    state: "{{ item }}"
  loop: [reverted, absent]

- name: Remove every snapshot before a SAN restore
  vadp.vsphere.temp_snapshot:
    name: web01
    state: absent_all
'''

RETURN = r'''
vm:
  description: The VM.
  returned: always
  type: dict
  contains:
    name: {description: Name., type: str, sample: web01}
    moid: {description: Managed object id., type: str, sample: vm-42}
    uuid: {description: BIOS uuid., type: str, sample: 4203e2c8-1d4c-7a3e-2a7f-9c2a1d3e4f50}
snapshot:
  description: The snapshot created, found, reverted to or removed; null when there was none.
  returned: always
  type: dict
  contains:
    name: {description: Name., type: str, sample: vadp-restore}
    moref: {description: Managed object id (a SAN or HotAdd connection's snapshotRef)., type: str, sample: snapshot-101}
    id: {description: Id within the VM., type: int, sample: 3}
    created: {description: Creation time (ISO 8601)., type: str, sample: "2026-11-25T21:00:05+00:00"}
    description: {description: Description., type: str, sample: ""}
removed:
  description: The snapshots removed (C(absent), C(absent_all)).
  returned: always
  type: list
  elements: dict
  sample: [{name: vadp-restore, moref: snapshot-101, id: 3, created: "2026-11-25T21:00:05+00:00", description: ""}]
consolidated:
  description: Whether the module consolidated the VM's disks after a removal because vSphere asked for it.
  returned: always
  type: bool
  sample: false
disks:
  description:
    - Every disk as it is at the end, with its current leaf file and parent chain (the fields of
      vadp.vsphere.vm_info's RV(vadp.vsphere.vm_info#module:disks)).
  returned: always
  type: list
  elements: dict
  sample: [{key: 2000, label: Hard disk 1, file_name: "[ds1] web01/web01-000001.vmdk",
            parent_chain: ["[ds1] web01/web01.vmdk"]}]
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere import snapshots
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import DEFAULT_TASK_TIMEOUT
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import disks_of, vm_identity
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    vm_identity_argument_spec,
)


class TempSnapshotModule(VsphereModule):
    def __init__(self):
        spec = vm_identity_argument_spec()
        spec.update(
            state=dict(type="str", default="present", choices=["present", "absent", "reverted", "absent_all"]),
            snapshot_name=dict(type="str"),
            snapshot_moref=dict(type="str"),
            description=dict(type="str", default=""),
            memory=dict(type="bool", default=False),
            quiesce=dict(type="bool", default=False),
            timeout=dict(type="int", default=DEFAULT_TASK_TIMEOUT),
        )
        super().__init__(
            argument_spec=spec, required_one_of=VM_IDENTITY_ONE_OF, supports_check_mode=True,
            mutually_exclusive=[["snapshot_name", "snapshot_moref"]],
            required_if=[("state", "present", ["snapshot_name"]),
                         ("state", "absent", ["snapshot_name", "snapshot_moref"], True),
                         ("state", "reverted", ["snapshot_name", "snapshot_moref"], True)])

    def execute(self, client):
        vm = self.find_vm(client)
        p = self.params
        change = snapshots.SnapshotChange(vm, p["snapshot_name"], p["snapshot_moref"], p["timeout"], self.module.check_mode)
        result = change.run(p["state"], p["description"], p["memory"], p["quiesce"])
        return dict(result, vm=vm_identity(vm), disks=disks_of(vm.config))


def main():
    TempSnapshotModule().run()


if __name__ == "__main__":
    main()
