#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: vm_info
short_description: What a backup or restore needs to know about one VM
description:
  - Reads one VM and returns its identity and placement, power state, firmware, hardware version,
    change tracking (CBT) state, every virtual disk and the whole snapshot tree.
  - For every disk it returns the B(current leaf file name) and the chain of parent files below
    it. A restore must open the disk by this name, not by the name saved at backup time; after
    snapshots the VM writes to C(disk-000002.vmdk), not C(disk.vmdk).
  - Read-only; check mode runs the same reads.
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options: {}
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.connection.vm_identity
attributes:
  check_mode:
    support: full
    description: The module only reads, so check mode returns the same facts.
'''

EXAMPLES = r'''
- name: Read a VM's disks and snapshots (connection from VMWARE_* variables or an AWX credential)
  vadp.vsphere.vm_info:
    name: web01
    folder: /DC0/vm/production
  register: web01

- name: Show the file each disk writes to now
  ansible.builtin.debug:
    msg: "{{ item.label }}: {{ item.file_name }} (base {{ item.base_file_name }})"
  loop: "{{ web01.disks }}"

- name: Look a VM up by its instance uuid, with every connection option spelled out
  vadp.vsphere.vm_info:
    hostname: vcenter.example.com
    username: backup@vsphere.local
    password: "{{ vault_vcenter_password }}"
    ca_bundle: /etc/pki/vcenter-ca.pem
    uuid: 5003c1c4-1d4c-7a3e-2a7f-9c2a1d3e4f50
    use_instance_uuid: true
  register: vm

- name: Refuse to go on while the VM has snapshots
  ansible.builtin.assert:
    that: vm.snapshots | length == 0
    fail_msg: "{{ vm.vm.name }} still has snapshots"
'''

RETURN = r'''
state_dirs:
  description:
    - Where vadp.vsphere.vm_backup and vadp.vsphere.vmdk_restore keep this VM's transfer state (plan, checkpoint,
      progress) when they are given no O(vadp.vsphere.vmdk_restore#module:state_dir).
    - Give one to vadp.vsphere.transfer_status to follow a running backup or restore of this VM.
  returned: success
  type: dict
  sample: {backup: /root/.vadp/transfers/5003c4e2-6a4c-9a3a-0f1b-2f6e1c9d8a10-backup,
           restore: /root/.vadp/transfers/5003c4e2-6a4c-9a3a-0f1b-2f6e1c9d8a10-restore}
vm:
  description: Identity, placement and state of the VM.
  returned: success
  type: dict
  contains:
    name:
      description: The VM's name.
      type: str
      sample: web01
    moid:
      description: Managed object id.
      type: str
      sample: vm-42
    uuid:
      description: BIOS uuid.
      type: str
      sample: 4203e2c8-1d4c-7a3e-2a7f-9c2a1d3e4f50
    instance_uuid:
      description: vCenter instance uuid.
      type: str
      sample: 5003c1c4-1d4c-7a3e-2a7f-9c2a1d3e4f50
    datacenter:
      description: Datacenter name.
      type: str
      sample: DC0
    folder:
      description: Inventory path of the VM's folder.
      type: str
      sample: /DC0/vm/production
    host:
      description: The ESXi host the VM is registered on.
      type: str
      sample: esx01.example.com
    cluster:
      description: The host's cluster, null for a standalone host.
      type: str
      sample: prod-cluster
    resource_pool:
      description: Resource pool name.
      type: str
      sample: Resources
    vm_path_name:
      description: The VMX file.
      type: str
      sample: "[ds1] web01/web01.vmx"
    guest_id:
      description: Guest OS identifier.
      type: str
      sample: rhel9_64Guest
    firmware:
      description: >-
        C(bios) or C(efi) (an EFI VM needs its NVRAM restored to boot).
      type: str
      sample: efi
    hardware_version:
      description: Virtual hardware version.
      type: str
      sample: vmx-19
    template:
      description: Whether the VM is a template.
      type: bool
      sample: false
    power_state:
      description: >-
        C(poweredOn), C(poweredOff) or C(suspended).
      type: str
      sample: poweredOff
    connection_state:
      description: The VM's connection state in vCenter.
      type: str
      sample: connected
    consolidation_needed:
      description: Whether vSphere asks for disk consolidation.
      type: bool
      sample: false
    cbt_enabled:
      description: Whether changed block tracking is on.
      type: bool
      sample: true
disks:
  description: Every virtual disk, in device key order.
  returned: success
  type: list
  elements: dict
  contains:
    key:
      description: Device key.
      type: int
      sample: 2000
    label:
      description: Device label.
      type: str
      sample: Hard disk 1
    controller_key:
      description: Key of the controller the disk hangs on.
      type: int
      sample: 1000
    controller_type:
      description: >-
        C(lsilogic), C(lsilogicsas), C(pvscsi), C(buslogic), C(sata), C(nvme) or C(ide).
      type: str
      sample: pvscsi
    controller_bus_number:
      description: The controller's bus number.
      type: int
      sample: 0
    unit_number:
      description: Unit number on the controller.
      type: int
      sample: 0
    address:
      description: Bus and unit as in the VMX file.
      type: str
      sample: "scsi0:0"
    capacity_bytes:
      description: Capacity in bytes.
      type: int
      sample: 42949672960
    backing_type:
      description: >-
        C(flat), C(rdm), C(sparse), C(sesparse), or the backing class name.
      type: str
      sample: flat
    provisioning:
      description: >-
        C(thin), C(lazy_zeroed) or C(eager_zeroed) for flat disks, null otherwise.
      type: str
      sample: thin
    file_name:
      description: The current leaf file, the one a restore must open.
      type: str
      sample: "[ds1] web01/web01-000002.vmdk"
    parent_chain:
      description: The parent files below the leaf, nearest first.
      type: list
      elements: str
      sample: ["[ds1] web01/web01-000001.vmdk", "[ds1] web01/web01.vmdk"]
    base_file_name:
      description: The base disk at the bottom of the chain.
      type: str
      sample: "[ds1] web01/web01.vmdk"
    datastore:
      description: Datastore of the leaf file.
      type: str
      sample: ds1
    disk_mode:
      description: Disk mode.
      type: str
      sample: persistent
    sharing:
      description: Sharing mode.
      type: str
      sample: sharingNone
    uuid:
      description: The disk's uuid.
      type: str
      sample: 6000C29a-5b3a-0c1e-9d2f-3e4a5b6c7d8e
    change_id:
      description: The disk's CBT change id, when CBT is on and known.
      type: str
      sample: "52 de c0 d9 9b 49 0b 06-8c 52 1d 3e 2a 7f 4b 10/12"
    rdm:
      description: For an RDM, its compatibility mode, LUN device name and LUN uuid; null otherwise.
      type: dict
      sample: {compatibility_mode: physicalMode, device_name: /vmfs/devices/disks/naa.600a0b80001111550000, lun_uuid: 0200000000600a0b80001111550000}
snapshots:
  description: The snapshot tree, every branch, as nested lists under C(children).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Snapshot name.
      type: str
      sample: before-patch
    moref:
      description: Snapshot moref (what SAN and HotAdd transports need).
      type: str
      sample: snapshot-101
    id:
      description: Snapshot id within the VM.
      type: int
      sample: 1
    description:
      description: Description.
      type: str
      sample: ""
    created:
      description: Creation time (ISO 8601).
      type: str
      sample: "2026-11-24T22:00:05+00:00"
    power_state:
      description: The VM's power state when the snapshot was taken.
      type: str
      sample: poweredOn
    quiesced:
      description: Whether the guest was quiesced.
      type: bool
      sample: false
    current:
      description: Whether this is the VM's current snapshot.
      type: bool
      sample: true
    children:
      description: Child snapshots, same fields.
      type: list
      elements: dict
      sample: []
current_snapshot:
  description: Moref of the current snapshot, null when there is none.
  returned: success
  type: str
  sample: snapshot-101
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.local_dirs import default_state_dir
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import vm_facts
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    vm_identity_argument_spec,
)


class VmInfoModule(VsphereModule):
    def __init__(self):
        super().__init__(
            argument_spec=vm_identity_argument_spec(),
            required_one_of=VM_IDENTITY_ONE_OF,
            supports_check_mode=True,
        )

    def execute(self, client):
        result = vm_facts(self.find_vm(client))
        key = result["vm"]["instance_uuid"]
        result.update(changed=False, state_dirs={job: default_state_dir("%s-%s" % (key, job)) for job in ("backup", "restore")})
        return result


def main():
    VmInfoModule().run()


if __name__ == "__main__":
    main()
