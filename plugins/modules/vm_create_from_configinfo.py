#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: vm_create_from_configinfo
short_description: Recreate a VM from a saved VirtualMachineConfigInfo, its disks new and empty
description:
  - Builds a VirtualMachineConfigSpec from a saved configuration and creates the VM with CreateVM_Task
    - default devices left out, every added device under a temporary negative key
    with controllerKey pointing at its controller's, controllers' device lists dropped, disks created as
    new base disks (parent null) with the source's capacity and provisioning, cpuFeatureMask entries
    added as CpuIdInfoSpec, vApp properties, firmware and boot options carried over, CBT off (turn it on
    after the disks are restored).
  - The configuration comes from a restore point (O(repository)), a file (O(config_file)) or a value
    (O(config)), in any of pyVmomi JSON (C(_vimtype)), vim25 JSON (C(_typeName), govc -json, the vSphere 8
    JSON API), a SOAP RetrievePropertiesResponse or govc object.save XML.
  - The video card is a default device too; the source's video settings are applied to the new VM's own
    card after creation. For an EFI VM restored from a repository point, the saved NVRAM is uploaded.
  - Everything is checked before anything is created - the config (missing hardware, unknown types, a
    controllerKey no device defines), the placement, the networks (O(network_map)), the hardware version,
    the RDM LUNs - each with a clear message and error_code.
  - When a step after CreateVM fails (the video card, the NVRAM), the error (C(VM_HALF_CREATED)) is marked changed,
    names the VM and says how to go on; O(state=absent) removes it.
  - Every VM it creates carries a mark in its extraConfig (C(vadp.recoveredFrom)) naming the source it
    recreates. A VM of that name that exists already is used only when it carries the mark of the same
    source (a re-run); any other VM of that name - an unrelated production VM above all - is refused with
    error_code C(VM_EXISTS_UNRELATED) and left untouched (O(if_exists)). Check mode returns the ConfigSpec
    that would be sent.
  - Returns a disk_map ready for the disk_map option of M(vadp.vsphere.vmdk_restore).
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options:
  name:
    description: The new VM's name.
    type: str
    required: true
  config_file:
    description: A file holding the saved configuration (format detected).
    type: path
  config:
    description: The saved configuration as a value (a dict in either JSON form, or the text of any form).
    type: raw
  repository:
    description:
      - A restore repository (a folder, or V(s3://bucket/prefix) in object storage, O(s3)); the configuration saved in
        O(restore_point) of O(source_vm) is used.
    type: path
  restore_point:
    description:
      - With O(repository) - a point id, C(latest), C(clean) (the newest neither marked suspicious nor found
        infected by its last scan), or an ISO 8601 time (the last point at or before it).
    type: str
    default: latest
  source_vm:
    description: With O(repository) - the backed-up VM's name or instance uuid.
    type: str
  config_vm:
    description: When the input holds several VMs (pyVmomi JSON of many objects), the name of the one to use.
    type: str
  datastore:
    description: The datastore for the VM's files, and for its disks unless O(datastore_map) says otherwise. Default the source's.
    type: str
  datastore_map:
    description: Source datastore name to target datastore name, for the disks and file-backed devices (ISO, floppy, serial).
    type: dict
  network_map:
    description:
      - Source network (a standard port group's name, or a distributed port group's key such as C(dvportgroup-46)) to a
        target network name (standard or distributed port group). Unmapped NICs keep their network, which must exist.
    type: dict
  network:
    description:
      - Put every NIC on this one network (a standard or distributed port group), whatever its source network - for
        example an isolated port group for a test. Mutually exclusive with O(network_map).
    type: str
  nics_connected:
    description:
      - False - every network card of the new VM starts disconnected (not connected at power-on, and the guest cannot
        connect it), whatever the source's, so that a VM restored from a point that may hold malware boots isolated.
        Connect them afterwards in vSphere once it is found clean.
    type: bool
    default: true
  mac:
    description:
      - C(keep) the NICs' MAC addresses, or C(regenerate) them. vSphere accepts manual MACs only in 00:50:56:00-3F, so a
        MAC vCenter assigned is requested as an assigned one; the result lists the MACs the VM got and warns when
        vCenter did not keep one.
    type: str
    default: keep
    choices: [keep, regenerate]
  bios_uuid:
    description: C(keep) the BIOS uuid (guest licensing and software often depend on it), or let vSphere make a C(new) one.
    type: str
    default: keep
    choices: [keep, new]
  instance_uuid:
    description: C(keep) the vCenter instance uuid (only when the source VM is gone), or a C(new) one.
    type: str
    default: new
    choices: [keep, new]
  hardware_version:
    description: When the target host cannot create the source's hardware version - C(refuse), or C(lower) it to the highest it can.
    type: str
    default: refuse
    choices: [refuse, lower]
  disk_provisioning:
    description: The new disks' provisioning - as in the C(source), or C(thin), C(thick) (lazy zeroed) or C(eager) (eager zeroed).
    type: str
    default: source
    choices: [source, thin, thick, eager]
  extra_config_deny:
    description:
      - extraConfig keys (fnmatch patterns) left out. The default drops what vSphere writes itself or is host-specific
        (nvram, pciBridge*, *.pciSlotNumber, migrate.*, monitor.*, uuid.*, ...) and guestinfo.*; redacted values are always dropped.
    type: list
    elements: str
  extra_config_allow:
    description: extraConfig keys (fnmatch patterns) kept even when O(extra_config_deny) matches them.
    type: list
    elements: str
    default: []
  rdm_policy:
    description:
      - What becomes of RDM disks in the config - C(remap) each to the LUN O(rdm_map) names (looked up in QueryConfigTarget),
        C(as_vmdk) a thin virtual disk of the same size (to restore a virtual-mode RDM's data into), or C(skip).
    type: str
    default: remap
    choices: [remap, as_vmdk, skip]
  rdm_map:
    description: Source LUN (its uuid or canonical name) to target LUN (canonical name or ConfigTarget uuid), for O(rdm_policy=remap).
    type: dict
  state:
    description:
      - C(present) creates the VM. C(absent) deletes the VM of that name in the folder, with its disks - only when it
        is powered off and carries this module's recovery mark (a VM it created; any other is refused with error_code
        C(VM_EXISTS_UNRELATED)); meant for removing a half-restored VM so a re-run starts clean. Neither the config nor
        a host or cluster is needed then, only the datacenter (when there are several) and the folder.
    type: str
    default: present
    choices: [present, absent]
  if_exists:
    description:
      - When a VM of that name is in the folder and carries this module's mark for the same source - C(keep) it
        (unchanged, RV(created) false), C(fail_if_different) when its CPUs, memory, guest or disks differ, or C(fail)
        always (error_code C(VM_EXISTS)).
      - A VM of that name without the mark, or marked as the recovery of another source, is always refused
        (error_code C(VM_EXISTS_UNRELATED)).
    type: str
    default: keep
    choices: [keep, fail_if_different, fail]
  timeout:
    description: Seconds to wait for the create and reconfigure tasks.
    type: int
    default: 600
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.placement
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
attributes:
  check_mode:
    support: full
    description: Returns the ConfigSpec as JSON (config_spec) without creating anything.
'''

EXAMPLES = r'''
- name: Recreate web01 from its last restore point, next to the original
  vadp.vsphere.vm_create_from_configinfo:
    name: web01-restored
    repository: /backups/vsphere
    source_vm: web01
    datacenter: DC1
    cluster: Prod
    datastore: ds-ssd-02
    network_map:
      dvportgroup-46: Restore-Isolated
    mac: regenerate
    bios_uuid: new
  register: created

- name: Fill its disks from the same point
  vadp.vsphere.vmdk_restore:
    moid: "{{ created.vm.moid }}"
    repository: /backups/vsphere
    source_vm: web01
    mode: fresh
    disk_map: "{{ created.disk_map }}"

- name: Rebuild a VM from a config saved with govc object.save, lowering its hardware version
  vadp.vsphere.vm_create_from_configinfo:
    name: app02
    config_file: /dr/app02-config.xml
    host: esx07.example.com
    datastore: ds1
    hardware_version: lower
    rdm_policy: as_vmdk
'''

RETURN = r'''
created:
  description: Whether this run created the VM (false - it existed already as a recovery of the same source).
  returned: when O(state=present)
  type: bool
  sample: true
recovery_of:
  description: The source the VM is marked as the recovery of (the point's VM instance uuid, or the config's uuid).
  returned: when O(state=present)
  type: str
  sample: 5003c1c4-8d2a-4f4e-9a6f-0c1d2e3f4a5b
vm:
  description: The VM created or found (name, moid, instance and BIOS uuid, folder, datacenter, power state).
  returned: unless check mode
  type: dict
  sample: {name: web01-restored, moid: vm-1234, uuid: 42222363-926b-a90c-0f4e-51d5b312c8f2}
disk_map:
  description: Source disk key to the new VM's disk key, as M(vadp.vsphere.vmdk_restore) takes it in disk_map.
  returned: unless check mode
  type: dict
  sample: {"2000": 2000, "2001": 2016}
disks:
  description: Per source disk - the new key, file, address (C(scsi0:1)), capacity and provisioning.
  returned: always
  type: list
  elements: dict
nics:
  description: Per NIC - source key, network, the MAC asked for and the MAC the VM has, and whether it starts connected.
  returned: always
  type: list
  elements: dict
config_spec:
  description: The ConfigSpec sent (or, in check mode, that would be sent), as pyVmomi JSON.
  returned: when the VM is created or in check mode
  type: dict
notes:
  description: What was changed from the source - extraConfig keys dropped, hardware version lowered, RDMs skipped, fields unknown to this pyVmomi.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.recreate import RecreateOptions, RecreateVm
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import VsphereModule, placement_argument_spec, repository_access_argument_spec


class VmCreateFromConfigInfoModule(VsphereModule):
    def __init__(self):
        spec = dict(
            name=dict(type="str", required=True),
            config_file=dict(type="path"),
            config=dict(type="raw"),
            repository=dict(type="path"),
            restore_point=dict(type="str", default="latest"),
            source_vm=dict(type="str"),
            config_vm=dict(type="str"),
            **placement_argument_spec(),
            datastore=dict(type="str"),
            datastore_map=dict(type="dict"),
            network_map=dict(type="dict"),
            network=dict(type="str"),
            nics_connected=dict(type="bool", default=True),
            mac=dict(type="str", default="keep", choices=["keep", "regenerate"]),
            bios_uuid=dict(type="str", default="keep", choices=["keep", "new"]),
            instance_uuid=dict(type="str", default="new", choices=["keep", "new"]),
            hardware_version=dict(type="str", default="refuse", choices=["refuse", "lower"]),
            disk_provisioning=dict(type="str", default="source", choices=["source", "thin", "thick", "eager"]),
            extra_config_deny=dict(type="list", elements="str"),
            extra_config_allow=dict(type="list", elements="str", default=[]),
            rdm_policy=dict(type="str", default="remap", choices=["remap", "as_vmdk", "skip"]),
            rdm_map=dict(type="dict"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            if_exists=dict(type="str", default="keep", choices=["keep", "fail_if_different", "fail"]),
            timeout=dict(type="int", default=600),
            **repository_access_argument_spec(),
        )
        sources = ["config_file", "config", "repository"]
        super().__init__(argument_spec=spec, supports_check_mode=True, mutually_exclusive=[sources, ["network", "network_map"]],
                         required_if=[("state", "present", sources, True)], required_by={"repository": ["source_vm"]})

    def execute(self, client):
        return RecreateVm(client, self.options(RecreateOptions), warn=self.module.warn).run(self.module.check_mode)


def main():
    VmCreateFromConfigInfoModule().run()


if __name__ == "__main__":
    main()
