#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: rdm_disk
short_description: Attach or detach a Raw Device Mapping (RDM) disk, with the LUN uuid vSphere accepts
description:
  - Looks the LUN up in the VM's C(QueryConfigTarget) - deviceName is the LUN's canonical name and
    lunUuid the uuid C(ConfigTarget.scsiDisk[].disk.uuid) reports. The uuid in the ESXi host's own storage config is a
    different value and makes the reconfiguration fail; given one, the module says so instead of trying.
  - Refuses a LUN another VM already maps, naming that VM (error_code C(LUN_IN_USE)).
  - Puts the disk on the SCSI controller and unit asked for, else on the first free unit, adding a ParaVirtual SCSI
    controller when every unit is taken.
  - Idempotent - the same LUN attached with the same settings is unchanged; the disk mode and sharing are changed in
    place; another compatibility mode is refused (detach and attach again). O(state=absent) removes the mapping file
    only, never the LUN's data. Check mode reports what would change.
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options:
  lun:
    description: The LUN, by canonical name (C(naa.600...)) or by the uuid QueryConfigTarget reports.
    type: str
    required: true
  state:
    description: C(present) to attach, C(absent) to detach.
    type: str
    default: present
    choices: [present, absent]
  compatibility_mode:
    description: C(physicalMode) passes SCSI commands through (no snapshots of this disk); C(virtualMode) lets vSphere snapshot it.
    type: str
    default: physicalMode
    choices: [physicalMode, virtualMode]
  disk_mode:
    description: The disk mode (for virtualMode; physical mode RDMs are always independent of snapshots).
    type: str
    default: independent_persistent
    choices: [persistent, independent_persistent, independent_nonpersistent]
  sharing:
    description: C(sharingNone), or C(sharingMultiWriter) for clustered guests.
    type: str
    default: sharingNone
    choices: [sharingNone, sharingMultiWriter]
  controller:
    description: The SCSI controller, as C(scsiN) (its bus number). Default the first with a free unit.
    type: str
  unit_number:
    description: The unit on the controller (0-15 except 7). Default the first free one.
    type: int
  datastore:
    description: The datastore for the mapping file. Default the VM's own folder.
    type: str
  timeout:
    description: Seconds to wait for the reconfigure task.
    type: int
    default: 600
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.connection.vm_identity
attributes:
  check_mode:
    support: full
    description: Reports what would change without reconfiguring the VM.
'''

EXAMPLES = r'''
- name: Map the database LUN into db01, physical compatibility
  vadp.vsphere.rdm_disk:
    name: db01
    lun: naa.600a098038303053453f463045727a4f
    controller: scsi1
    unit_number: 0

- name: Detach it (the LUN's data stays)
  vadp.vsphere.rdm_disk:
    name: db01
    lun: naa.600a098038303053453f463045727a4f
    state: absent
'''

RETURN = r'''
vm:
  description: The VM.
  returned: always
  type: dict
disk:
  description: The RDM disk - key, label, address (C(scsi1:0)), lun, lun_uuid, compatibility_mode, disk_mode, sharing, file_name.
  returned: when state is present
  type: dict
  sample: {key: 2016, address: "scsi1:0", lun: naa.600a0980, lun_uuid: 0200000000600a0980, compatibility_mode: physicalMode}
'''

try:
    from pyVmomi import vim
except ImportError:
    pass  # VsphereModule reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.placement import (
    LunInUseError,
    LunNotFoundError,
    RdmError,
    config_target_luns,
    is_rdm,
    lun_users,
)
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.facts import vm_identity
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    vm_identity_argument_spec,
)
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.tasks import wait_for_task

FREE_UNITS = [u for u in range(16) if u != 7]  # unit 7 is the controller's own


def _address(vm, disk):
    controller = [d for d in vm.config.hardware.device if d.key == disk.controllerKey]
    return "scsi%s:%s" % (controller[0].busNumber if controller else "?", disk.unitNumber)


class RdmDiskModule(VsphereModule):
    def __init__(self):
        spec = vm_identity_argument_spec()
        spec.update(
            lun=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            compatibility_mode=dict(type="str", default="physicalMode", choices=["physicalMode", "virtualMode"]),
            disk_mode=dict(type="str", default="independent_persistent",
                           choices=["persistent", "independent_persistent", "independent_nonpersistent"]),
            sharing=dict(type="str", default="sharingNone", choices=["sharingNone", "sharingMultiWriter"]),
            controller=dict(type="str"),
            unit_number=dict(type="int"),
            datastore=dict(type="str"),
            timeout=dict(type="int", default=600),
        )
        super().__init__(argument_spec=spec, required_one_of=VM_IDENTITY_ONE_OF, supports_check_mode=True)

    def _lun(self, vm):
        wanted = self.params["lun"]
        luns = config_target_luns(vm.environmentBrowser, vm.runtime.host)
        if wanted in luns:
            return luns[wanted]
        host_uuids = {d.uuid: d.canonicalName for d in vm.runtime.host.config.storageDevice.scsiLun or []
                      if isinstance(d, vim.host.ScsiDisk)}
        if wanted in host_uuids:
            raise LunNotFoundError("%s is the ESXi host's own uuid of LUN %s; an RDM needs the uuid QueryConfigTarget "
                                   "reports (%s), or give the canonical name" % (
                                       wanted, host_uuids[wanted], luns.get(host_uuids[wanted], {}).get("uuid", "not offered")))
        names = sorted(set(lun["canonical_name"] for lun in luns.values()))
        raise LunNotFoundError("LUN %s is not one VM %s can map (QueryConfigTarget offers: %s)" % (
            wanted, vm.name, ", ".join(names) or "none"))

    def _placement(self, vm):
        """(controller key, unit, [controller add spec]) for a new disk."""
        p = self.params
        devices = vm.config.hardware.device
        controllers = sorted((d for d in devices if isinstance(d, vim.vm.device.VirtualSCSIController)), key=lambda c: c.busNumber)
        if p["controller"]:
            controllers = [c for c in controllers if "scsi%d" % c.busNumber == p["controller"]]
            if not controllers:
                raise RdmError("VM %s has no SCSI controller %s" % (vm.name, p["controller"]))
        for controller in controllers:
            used = set(d.unitNumber for d in devices if d.controllerKey == controller.key)
            free = [u for u in FREE_UNITS if u not in used]
            if p["unit_number"] is not None:
                if p["unit_number"] not in free:
                    raise RdmError("unit %s of scsi%d is taken or reserved" % (p["unit_number"], controller.busNumber))
                return controller.key, p["unit_number"], []
            if free:
                return controller.key, free[0], []
        if p["controller"]:
            raise RdmError("SCSI controller %s has no free unit" % p["controller"])
        buses = set(c.busNumber for c in devices if isinstance(c, vim.vm.device.VirtualSCSIController))
        bus = [b for b in range(4) if b not in buses]
        if not bus:
            raise RdmError("VM %s has four SCSI controllers and no free unit on them" % vm.name)
        controller = vim.vm.device.ParaVirtualSCSIController(key=-100, busNumber=bus[0], sharedBus="noSharing")
        return -100, p["unit_number"] or 0, [vim.vm.device.VirtualDeviceSpec(operation="add", device=controller)]

    def _describe(self, vm, disk, lun):
        b = disk.backing
        return {"key": disk.key, "label": disk.deviceInfo.label if disk.deviceInfo else None, "address": _address(vm, disk),
                "lun": lun["canonical_name"], "lun_uuid": b.lunUuid, "compatibility_mode": b.compatibilityMode,
                "disk_mode": b.diskMode, "sharing": b.sharing, "file_name": b.fileName}

    def execute(self, client):
        p = self.params
        vm = self.find_vm(client)
        lun = self._lun(vm)
        attached = [d for d in vm.config.hardware.device if is_rdm(d) and d.backing.lunUuid == lun["uuid"]]
        result = {"changed": False, "vm": vm_identity(vm)}
        if p["state"] == "absent":
            if attached:
                result["changed"] = True
                if not self.module.check_mode:
                    wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
                        operation="remove", fileOperation="destroy", device=attached[0])])), timeout=p["timeout"])
            return result
        if attached:
            return self._update(vm, attached[0], lun, result)
        users = lun_users(client.content, lun, vm)
        if users:
            raise LunInUseError("LUN %s is mapped by VM %s already" % (lun["canonical_name"], ", ".join(users)))
        controller_key, unit, extra = self._placement(vm)
        backing = vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo(
            fileName="[%s]" % p["datastore"] if p["datastore"] else "", deviceName=lun["canonical_name"], lunUuid=lun["uuid"],
            compatibilityMode=p["compatibility_mode"], diskMode=p["disk_mode"], sharing=p["sharing"])
        disk = vim.vm.device.VirtualDisk(key=-101, controllerKey=controller_key, unitNumber=unit, backing=backing,
                                         capacityInKB=lun["capacity_bytes"] // 1024)
        result["changed"] = True
        if self.module.check_mode:
            return result
        changes = extra + [vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk)]
        wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=changes)), timeout=p["timeout"])
        [new] = [d for d in vm.config.hardware.device if is_rdm(d) and d.backing.lunUuid == lun["uuid"]]
        result["disk"] = self._describe(vm, new, lun)
        return result

    def _update(self, vm, disk, lun, result):
        p, b = self.params, disk.backing
        if b.compatibilityMode != p["compatibility_mode"]:
            raise RdmError("LUN %s is attached to %s in %s; vSphere cannot change an RDM's compatibility mode in place: "
                           "detach it (state: absent) and attach it again" % (lun["canonical_name"], vm.name, b.compatibilityMode))
        if (b.diskMode, b.sharing or "sharingNone") != (p["disk_mode"], p["sharing"]):
            result["changed"] = True
            if not self.module.check_mode:
                b.diskMode, b.sharing = p["disk_mode"], p["sharing"]
                wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
                    operation="edit", device=disk)])), timeout=p["timeout"])
        result["disk"] = self._describe(vm, disk, lun)
        return result


def main():
    RdmDiskModule().run()


if __name__ == "__main__":
    main()
