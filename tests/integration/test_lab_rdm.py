"""The lab's LUNs for Raw Device Mappings, shown with plain pyVmomi (docs/vsphere-rules.md, rule D.1)."""
import os

import pytest
from pyVmomi import vim

from conftest import rdm_disks, wait


def _scsi_controller(vm):
    return [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualSCSIController)][0]


def _rdm_spec(vm, lun, uuid, unit):
    backing = vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo(
        deviceName=lun.disk.canonicalName, lunUuid=uuid, compatibilityMode="physicalMode",
        diskMode="independent_persistent", fileName="")
    disk = vim.vm.device.VirtualDisk(key=-1, controllerKey=_scsi_controller(vm).key, unitNumber=unit,
                                     backing=backing, capacityInKB=lun.capacity // 1024)
    change = vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk)
    return vim.vm.ConfigSpec(deviceChange=[change])


def test_luns_are_listed_with_a_config_target_uuid_that_differs_from_the_host_s(rdm_vms):
    vm = rdm_vms[0]
    target = vm.environmentBrowser.QueryConfigTarget(host=vm.runtime.host)
    assert len(target.scsiDisk) >= 2
    lun = target.scsiDisk[0]
    assert lun.disk.canonicalName.startswith("naa.") and lun.capacity > 0
    host_luns = {d.canonicalName: d.uuid for d in vm.runtime.host.config.storageDevice.scsiLun
                 if isinstance(d, vim.host.ScsiDisk)}
    assert lun.disk.canonicalName in host_luns
    assert host_luns[lun.disk.canonicalName] != lun.disk.uuid


def test_rdm_needs_the_config_target_uuid_and_a_free_lun(rdm_vms, lab):
    first, second = rdm_vms
    lun = first.environmentBrowser.QueryConfigTarget(host=first.runtime.host).scsiDisk[1]
    host_uuid = [d.uuid for d in first.runtime.host.config.storageDevice.scsiLun
                 if d.canonicalName == lun.disk.canonicalName][0]

    with pytest.raises(vim.fault.InvalidDeviceBacking):  # the host's own uuid: refused
        wait(first.ReconfigVM_Task(_rdm_spec(first, lun, host_uuid, unit=1)))
    assert rdm_disks(first) == []

    wait(first.ReconfigVM_Task(_rdm_spec(first, lun, lun.disk.uuid, unit=1)))
    [rdm] = rdm_disks(first)
    assert rdm.backing.lunUuid == lun.disk.uuid and rdm.backing.compatibilityMode == "physicalMode"
    assert rdm.capacityInBytes == lun.capacity
    mapping = lab.disk_file("DC0_H0_VM0", rdm.backing.fileName)
    with open(mapping) as f:
        assert 'createType="vmfsPassthroughRawDeviceMap"' in f.read()
    assert os.path.islink(mapping.replace(".vmdk", "-rdmp.vmdk"))

    with pytest.raises(vim.fault.InvalidDeviceBacking):  # the LUN is taken
        wait(second.ReconfigVM_Task(_rdm_spec(second, lun, lun.disk.uuid, unit=1)))

    wait(first.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
        operation="remove", fileOperation="destroy", device=rdm)])))
    wait(second.ReconfigVM_Task(_rdm_spec(second, lun, lun.disk.uuid, unit=1)))  # free again
    assert len(rdm_disks(second)) == 1
