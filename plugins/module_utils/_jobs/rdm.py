# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attaching a LUN to a VM as a Raw Device Mapping, changing or removing it: the LUN as
QueryConfigTarget offers it (never the host's own uuid, docs/vsphere-rules.md rule D.1), a LUN
another VM maps refused, a free SCSI unit found or a controller added. No Ansible imports.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

try:
    from pyVmomi import vim
except ImportError:
    pass  # VsphereClient reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import disk_address, vm_identity
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.placement import (
    LunInUseError,
    LunNotFoundError,
    RdmError,
    config_target_luns,
    is_rdm,
    lun_users,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import wait_for_task

FREE_UNITS = [u for u in range(16) if u != 7]  # unit 7 is the controller's own


@dataclasses.dataclass(frozen=True)
class RdmOptions:
    """The rdm_disk module's options of the same names."""
    lun: str
    state: str = "present"
    compatibility_mode: str = "physicalMode"
    disk_mode: str = "independent_persistent"
    sharing: str = "sharingNone"
    controller: Optional[str] = None  # scsiN
    unit_number: Optional[int] = None
    datastore: Optional[str] = None
    timeout: int = 600


class RdmAttachment:
    """The RDM of options.lun on vm, as options.state says."""

    def __init__(self, client, vm, options: RdmOptions):
        self.client, self.vm, self.options = client, vm, options
        self.check_mode = False

    def _lun(self, vm):
        wanted = self.options.lun
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
        o = self.options
        devices = vm.config.hardware.device
        controllers = sorted((d for d in devices if isinstance(d, vim.vm.device.VirtualSCSIController)), key=lambda c: c.busNumber)
        if o.controller:
            controllers = [c for c in controllers if "scsi%d" % c.busNumber == o.controller]
            if not controllers:
                raise RdmError("VM %s has no SCSI controller %s" % (vm.name, o.controller))
        for controller in controllers:
            used = set(d.unitNumber for d in devices if d.controllerKey == controller.key)
            free = [u for u in FREE_UNITS if u not in used]
            if o.unit_number is not None:
                if o.unit_number not in free:
                    raise RdmError("unit %s of scsi%d is taken or reserved" % (o.unit_number, controller.busNumber))
                return controller.key, o.unit_number, []
            if free:
                return controller.key, free[0], []
        if o.controller:
            raise RdmError("SCSI controller %s has no free unit" % o.controller)
        buses = set(c.busNumber for c in devices if isinstance(c, vim.vm.device.VirtualSCSIController))
        bus = [b for b in range(4) if b not in buses]
        if not bus:
            raise RdmError("VM %s has four SCSI controllers and no free unit on them" % vm.name)
        controller = vim.vm.device.ParaVirtualSCSIController(key=-100, busNumber=bus[0], sharedBus="noSharing")
        return -100, o.unit_number or 0, [vim.vm.device.VirtualDeviceSpec(operation="add", device=controller)]

    def _describe(self, vm, disk, lun):
        b, devices = disk.backing, {d.key: d for d in vm.config.hardware.device}
        return {"key": disk.key, "label": disk.deviceInfo.label if disk.deviceInfo else None,
                "address": disk_address(disk, devices),
                "lun": lun["canonical_name"], "lun_uuid": b.lunUuid, "compatibility_mode": b.compatibilityMode,
                "disk_mode": b.diskMode, "sharing": b.sharing, "file_name": b.fileName}

    def run(self, check_mode: bool = False) -> dict:
        o, vm = self.options, self.vm
        self.check_mode = check_mode
        lun = self._lun(vm)
        attached = [d for d in vm.config.hardware.device if is_rdm(d) and d.backing.lunUuid == lun["uuid"]]
        result = {"changed": False, "vm": vm_identity(vm)}
        if o.state == "absent":
            if attached:
                result["changed"] = True
                if not self.check_mode:
                    wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
                        operation="remove", fileOperation="destroy", device=attached[0])])), timeout=o.timeout)
            return result
        if attached:
            return self._update(vm, attached[0], lun, result)
        users = lun_users(self.client.content, lun, vm)
        if users:
            raise LunInUseError("LUN %s is mapped by VM %s already" % (lun["canonical_name"], ", ".join(users)))
        controller_key, unit, extra = self._placement(vm)
        backing = vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo(
            fileName="[%s]" % o.datastore if o.datastore else "", deviceName=lun["canonical_name"], lunUuid=lun["uuid"],
            compatibilityMode=o.compatibility_mode, diskMode=o.disk_mode, sharing=o.sharing)
        disk = vim.vm.device.VirtualDisk(key=-101, controllerKey=controller_key, unitNumber=unit, backing=backing,
                                         capacityInKB=lun["capacity_bytes"] // 1024)
        result["changed"] = True
        if self.check_mode:
            return result
        changes = extra + [vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk)]
        wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=changes)), timeout=o.timeout)
        [new] = [d for d in vm.config.hardware.device if is_rdm(d) and d.backing.lunUuid == lun["uuid"]]
        result["disk"] = self._describe(vm, new, lun)
        return result

    def _update(self, vm, disk, lun, result):
        o, b = self.options, disk.backing
        if b.compatibilityMode != o.compatibility_mode:
            raise RdmError("LUN %s is attached to %s in %s; vSphere cannot change an RDM's compatibility mode in place: "
                           "detach it (state: absent) and attach it again" % (lun["canonical_name"], vm.name, b.compatibilityMode))
        if (b.diskMode, b.sharing or "sharingNone") != (o.disk_mode, o.sharing):
            result["changed"] = True
            if not self.check_mode:
                b.diskMode, b.sharing = o.disk_mode, o.sharing
                wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
                    operation="edit", device=disk)])), timeout=o.timeout)
        result["disk"] = self._describe(vm, disk, lun)
        return result
