"""rdm_disk through ansible-playbook against the lab's LUNs (restore-rules D)."""
import pytest
from pyVmomi import vim

from conftest import find_vm_by_name, run_module, wait


def _rdms(vm):
    return [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)
            and isinstance(d.backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)]


@pytest.fixture
def vms(si):
    [first] = find_vm_by_name(si, "DC0_H0_VM0")
    [second] = find_vm_by_name(si, "DC0_H0_VM1")
    yield first, second
    for vm in (first, second):
        for disk in _rdms(vm):
            wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
                operation="remove", fileOperation="destroy", device=disk)])))


def rdm(vm_name, **args):
    return run_module("vadp.vsphere.rdm_disk", dict(name=vm_name, **args))


def test_attach_by_name_rerun_in_use_and_detach(vms):
    first, _second = vms
    target = first.environmentBrowser.QueryConfigTarget(host=first.runtime.host)
    lun = target.scsiDisk[1].disk
    planned = run_module("vadp.vsphere.rdm_disk", {"name": "DC0_H0_VM0", "lun": lun.canonicalName}, check_mode=True)
    assert planned["changed"] is True and not _rdms(first)
    result = rdm("DC0_H0_VM0", lun=lun.canonicalName)
    assert not result.get("failed"), result
    [disk] = _rdms(first)
    assert disk.backing.lunUuid == lun.uuid  # the ConfigTarget's uuid, the one vSphere accepts
    assert disk.backing.deviceName == lun.canonicalName and disk.backing.compatibilityMode == "physicalMode"
    assert result["disk"]["lun_uuid"] == lun.uuid and result["disk"]["address"].startswith("scsi")
    assert rdm("DC0_H0_VM0", lun=lun.uuid)["changed"] is False  # by uuid: the same LUN, unchanged
    in_use = rdm("DC0_H0_VM1", lun=lun.canonicalName)
    assert in_use["failed"] and in_use["error_code"] == "LUN_IN_USE" and "DC0_H0_VM0" in in_use["msg"]
    other_mode = rdm("DC0_H0_VM0", lun=lun.canonicalName, compatibility_mode="virtualMode")
    assert other_mode["failed"] and "state: absent" in other_mode["msg"]
    assert rdm("DC0_H0_VM0", lun=lun.canonicalName, state="absent")["changed"] is True
    assert not _rdms(first)
    assert rdm("DC0_H0_VM0", lun=lun.canonicalName, state="absent")["changed"] is False


def test_the_host_side_uuid_is_refused_with_the_reason(vms):
    first, _second = vms
    target = first.environmentBrowser.QueryConfigTarget(host=first.runtime.host)
    lun = target.scsiDisk[0].disk
    host_uuid = [d.uuid for d in first.runtime.host.config.storageDevice.scsiLun
                 if isinstance(d, vim.host.ScsiDisk) and d.canonicalName == lun.canonicalName][0]
    assert host_uuid != lun.uuid
    result = rdm("DC0_H0_VM0", lun=host_uuid)
    assert result["failed"] and result["error_code"] == "LUN_NOT_FOUND"
    assert "host's own uuid" in result["msg"] and lun.uuid in result["msg"]
    assert not _rdms(first)
    unknown = rdm("DC0_H0_VM0", lun="naa.000000")
    assert unknown["error_code"] == "LUN_NOT_FOUND" and lun.canonicalName in unknown["msg"]
