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
    description: A restore repository; the configuration saved in O(restore_point) of O(source_vm) is used.
    type: path
  restore_point:
    description: With O(repository) - a point id, C(latest), or an ISO 8601 time (the last point at or before it).
    type: str
    default: latest
  source_vm:
    description: With O(repository) - the backed-up VM's name or instance uuid.
    type: str
  config_vm:
    description: When the input holds several VMs (pyVmomi JSON of many objects), the name of the one to use.
    type: str
  datacenter:
    description: The datacenter; may be left out when there is only one.
    type: str
  folder:
    description: The VM folder, as an inventory path (C(/DC0/vm/restored)) or relative to the datacenter's VM folder.
    type: str
  cluster:
    description: The cluster to run the VM in (its root resource pool).
    type: str
  host:
    description: The ESXi host to place the VM on.
    type: str
  resource_pool:
    description: The resource pool, by name.
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
  returned: always
  type: bool
  sample: true
recovery_of:
  description: The source the VM is marked as the recovery of (the point's VM instance uuid, or the config's uuid).
  returned: always
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
  description: Per NIC - source key, network, the MAC asked for and the MAC the VM has.
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

import json
import os

try:
    from pyVmomi import vim
    from pyVmomi.VmomiJSONEncoder import VmomiJSONEncoder
except ImportError:
    pass  # VsphereModule reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils.recreate.config_spec import (
    RECOVERY_MARK_KEY,
    SpecBuilder,
    boot_order_spec,
    check_config,
    new_disk_map,
    video_card_edit,
)
from ansible_collections.vadp.vsphere.plugins.module_utils.recreate.configinfo import load_config, read_config_file
from ansible_collections.vadp.vsphere.plugins.module_utils.recreate.nvram import upload_nvram
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.placement import (
    LunInUseError,
    PlacementError,
    datastore_names,
    find_placement,
    find_vm_folder,
    lun_users,
    networks_of,
    placement_luns,
    supported_versions,
)
from ansible_collections.vadp.vsphere.plugins.module_utils.repository.store import Repository
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.facts import vm_identity
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VsphereError
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import VsphereModule
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.tasks import wait_for_task


class VmHalfCreatedError(VsphereError):
    error_code = "VM_HALF_CREATED"


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
            datacenter=dict(type="str"),
            folder=dict(type="str"),
            cluster=dict(type="str"),
            host=dict(type="str"),
            resource_pool=dict(type="str"),
            datastore=dict(type="str"),
            datastore_map=dict(type="dict"),
            network_map=dict(type="dict"),
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
        )
        sources = ["config_file", "config", "repository"]
        super().__init__(
            argument_spec=spec, supports_check_mode=True, mutually_exclusive=[sources],
            required_if=[("state", "present", sources, True)],
            required_by={"repository": ["source_vm"]})

    def _load(self):
        """(ConfigInfo, fields unknown to pyVmomi, the point's NVRAM or None, the source's identity)."""
        p = self.params
        if p["config_file"] or p["config"] is not None:
            config, unknown = (read_config_file(p["config_file"], p["config_vm"]) if p["config_file"]
                               else load_config(p["config"], p["config_vm"]))
            return config, unknown, None, config.instanceUuid or config.uuid or config.name
        repository = Repository(p["repository"])
        point = repository.find_point(repository.vm_key(p["source_vm"]), p["restore_point"])
        config, unknown = load_config(point["config"]["value"])
        nvram = None
        if point.get("nvram"):
            with open(os.path.join(repository.point_folder(point), point["nvram"]), "rb") as f:
                nvram = f.read()
        return config, unknown, nvram, point["vm"]["instance_uuid"]

    def _target(self, placement, config):
        p = self.params
        wanted = [p["datastore"]] + list((p["datastore_map"] or {}).values())
        available = datastore_names(placement)
        missing = [d for d in wanted if d and d not in available]
        if missing:
            raise PlacementError("datastore %s is not available to the chosen host or cluster (it has: %s)" % (
                ", ".join(missing), ", ".join(sorted(available))))
        has_rdm = any(isinstance(getattr(d, "backing", None), vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)
                      for d in config.hardware.device)
        return {"datastore": p["datastore"], "datastore_map": p["datastore_map"] or {},
                "networks": networks_of(placement["datacenter"]), "versions": supported_versions(placement),
                "luns": placement_luns(placement) if has_rdm and p["rdm_policy"] == "remap" else {}}

    def _remove(self, client):
        p = self.params
        _datacenter, folder = find_vm_folder(client.content, p["datacenter"], p["folder"])
        existing = [vm for vm in folder.childEntity if isinstance(vm, vim.VirtualMachine) and vm.name == p["name"]]
        if not existing:
            return {"changed": False, "notes": [], "disks": [], "nics": []}
        vm = existing[0]
        if not [o for o in vm.config.extraConfig or [] if o.key == RECOVERY_MARK_KEY]:
            raise VmExistsUnrelatedError("VM %s (%s) was not created by this module (it has no recovery mark): state "
                                         "absent deletes only VMs this module made; it is left untouched" % (
                                             vm.name, vm._moId), details={"vm": vm_identity(vm)})
        if vm.runtime.powerState != "poweredOff":
            raise PlacementError("VM %s is %s: power it off before removing it" % (vm.name, vm.runtime.powerState))
        result = {"changed": True, "vm": vm_identity(vm), "notes": ["VM %s deleted with its disks" % vm.name],
                  "disks": [], "nics": []}
        if not self.module.check_mode:
            wait_for_task(vm.Destroy_Task(), timeout=self.params["timeout"])
        return result

    def execute(self, client):
        p = self.params
        if p["state"] == "absent":
            return self._remove(client)
        config, unknown, nvram, source = self._load()
        check_config(config)
        placement = find_placement(client.content, p)
        options = {k: p[k] for k in ("name", "mac", "instance_uuid", "hardware_version", "disk_provisioning",
                                     "rdm_policy", "rdm_map", "network_map", "extra_config_allow")}
        options.update(uuid=p["bios_uuid"], recovery_of=source)
        if p["extra_config_deny"] is not None:
            options["extra_config_deny"] = p["extra_config_deny"]
        builder = SpecBuilder(config, self._target(placement, config), options)
        spec = builder.build()
        notes = list(builder.notes)
        if builder.dropped_extra_config:
            notes.append("extraConfig left out: %s" % ", ".join(builder.dropped_extra_config))
        if unknown:
            notes.append("fields this pyVmomi does not know, left out: %s" % ", ".join(unknown))
        result = {"changed": False, "created": False, "recovery_of": source, "notes": notes, "disks": builder.disks,
                  "nics": builder.nics}
        existing = [vm for vm in placement["folder"].childEntity if isinstance(vm, vim.VirtualMachine) and vm.name == p["name"]]
        if existing:
            return self._existing(existing[0], config, source, result)
        self._check_luns_free(client, builder.disks, builder.target.get("luns") or {})
        result.update(changed=True, created=True, config_spec=json.loads(json.dumps(spec, cls=VmomiJSONEncoder)))
        if self.module.check_mode:
            return result
        vm = wait_for_task(placement["folder"].CreateVM_Task(config=spec, pool=placement["resource_pool"], host=placement["host"]),
                           timeout=p["timeout"])
        try:
            self._finish(client, vm, config, nvram, placement, notes)
        except (VsphereError, OSError) as exc:
            raise VmHalfCreatedError(
                "VM %s was created, but %s. It is powered off and its disks are empty: delete it (state: absent) and "
                "run again, or fix the cause and run again (the VM is kept)." % (vm.name, exc),
                details={"changed": True, "vm": vm_identity(vm)})
        return self._describe(vm, config, result)

    def _check_luns_free(self, client, disks, luns):
        """Before CreateVM, as rdm_disk does: a LUN another VM maps is refused, naming that VM."""
        for disk in disks:
            if disk.get("lun") and luns.get(disk["lun"]):
                users = lun_users(client.content, luns[disk["lun"]])
                if users:
                    raise LunInUseError("LUN %s (for source disk %s) is mapped by VM %s already: map the RDM to a free LUN "
                                        "with rdm_map; nothing was created" % (disk["lun"], disk["source_key"], ", ".join(users)))

    def _finish(self, client, vm, config, nvram, placement, notes):
        """What CreateVM cannot do: the video card's settings, the boot order by the new device keys,
        the NVRAM of an EFI VM."""
        edit = video_card_edit(config, vm)
        if edit is not None:
            wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[edit])), timeout=self.params["timeout"])
        boot = boot_order_spec(config, vm.config)
        if boot is not None:  # the source's boot order, naming the new VM's device keys
            wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(bootOptions=boot)), timeout=self.params["timeout"])
            notes.append("boot order restored with the new VM's device keys")
        if nvram is not None and config.firmware == "efi":
            upload_nvram(client, vm, placement["datacenter"].name, nvram)
            notes.append("NVRAM restored from the point (EFI)")

    def _existing(self, vm, config, source, result):
        marks = [o.value for o in vm.config.extraConfig or [] if o.key == RECOVERY_MARK_KEY]
        if marks != [source]:
            whose = ("it is marked as the recovery of %s" % marks[0]) if marks else "it was not made by this module"
            raise VmExistsUnrelatedError(
                "A VM named %s exists in that folder (%s), and %s, not of %s: it is left untouched. Give another name, "
                "or remove that VM yourself if it really is to be replaced." % (vm.name, vm._moId, whose, source),
                details={"vm": vm_identity(vm)})
        if self.params["if_exists"] == "fail":
            raise VmExistsError("VM %s (%s) exists already, a recovery of %s from an earlier run; if_exists is fail" % (
                vm.name, vm._moId, source), details={"vm": vm_identity(vm)})
        differences = _differences(config, vm.config)
        if differences and self.params["if_exists"] == "fail_if_different":
            raise PlacementError("VM %s exists in that folder and differs from the saved configuration: %s" % (
                vm.name, "; ".join(differences)), details={"differences": differences})
        result["notes"].append("VM %s exists already: left as it is%s" % (
            vm.name, " (it differs: %s)" % "; ".join(differences) if differences else ""))
        return self._describe(vm, config, result)

    def _describe(self, vm, config, result):
        disk_map, disks = new_disk_map(config, vm.config)
        for entry in result["disks"]:
            entry.update(disks.get(entry["source_key"], {}))
            entry.pop("temporary_key", None)
        macs = {d.key: d.macAddress for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)}
        new_nics = sorted(macs.items())
        for entry, (key, mac) in zip(result["nics"], new_nics):
            entry.update(key=key, mac_now=mac)
            if self.params["mac"] == "keep" and entry["mac"] and mac != entry["mac"]:
                self.module.warn("NIC %s: vCenter gave MAC %s, not the kept %s" % (key, mac, entry["mac"]))
        result.update(vm=vm_identity(vm), disk_map=disk_map)
        return result


class VmExistsError(VsphereError):
    """A recovery of the same source from an earlier run exists, and if_exists is fail."""
    error_code = "VM_EXISTS"


class VmExistsUnrelatedError(VmExistsError):
    """A VM of the wanted name exists that is not this module's recovery of the source."""
    error_code = "VM_EXISTS_UNRELATED"


def _differences(config, current):
    """What an admin would call a different VM: CPUs, memory, guest, disk sizes."""
    def summary(c):
        sizes = sorted((d.capacityInBytes or d.capacityInKB * 1024) for d in c.hardware.device
                       if isinstance(d, vim.vm.device.VirtualDisk))
        return {"CPUs": c.hardware.numCPU, "memory MB": c.hardware.memoryMB, "guest": c.guestId, "disk sizes": sizes}
    want, have = summary(config), summary(current)
    return ["%s %s, not %s" % (k, have[k], want[k]) for k in want if want[k] != have[k]]


def main():
    VmCreateFromConfigInfoModule().run()


if __name__ == "__main__":
    main()
