"""rdm_disk through ansible-playbook against the lab's LUNs (docs/vsphere-rules.md, rule D.1)."""
from pyVmomi import vim

from conftest import rdm_disks, run_module, unchanged


def rdm(vm_name, **args):
    return run_module("vadp.vsphere.rdm_disk", dict(name=vm_name, **args))


def test_attach_by_name_rerun_in_use_and_detach(rdm_vms):
    first, _second = rdm_vms
    target = first.environmentBrowser.QueryConfigTarget(host=first.runtime.host)
    lun = target.scsiDisk[1].disk
    planned = run_module("vadp.vsphere.rdm_disk", {"name": "DC0_H0_VM0", "lun": lun.canonicalName}, check_mode=True)
    assert planned["changed"] is True and not rdm_disks(first)
    result = rdm("DC0_H0_VM0", lun=lun.canonicalName)
    assert not result.get("failed"), result
    [disk] = rdm_disks(first)
    assert disk.backing.lunUuid == lun.uuid  # the ConfigTarget's uuid, the one vSphere accepts
    assert disk.backing.deviceName == lun.canonicalName and disk.backing.compatibilityMode == "physicalMode"
    assert result["disk"]["lun_uuid"] == lun.uuid and result["disk"]["address"].startswith("scsi")
    assert unchanged(rdm("DC0_H0_VM0", lun=lun.uuid))  # by uuid: the same LUN, unchanged
    in_use = rdm("DC0_H0_VM1", lun=lun.canonicalName)
    assert in_use["failed"] and in_use["error_code"] == "LUN_IN_USE" and "DC0_H0_VM0" in in_use["msg"]
    other_mode = rdm("DC0_H0_VM0", lun=lun.canonicalName, compatibility_mode="virtualMode")
    assert other_mode["failed"] and "state: absent" in other_mode["msg"]
    assert rdm("DC0_H0_VM0", lun=lun.canonicalName, state="absent")["changed"] is True
    assert not rdm_disks(first)
    assert unchanged(rdm("DC0_H0_VM0", lun=lun.canonicalName, state="absent"))


def test_the_host_side_uuid_is_refused_with_the_reason(rdm_vms):
    first, _second = rdm_vms
    target = first.environmentBrowser.QueryConfigTarget(host=first.runtime.host)
    lun = target.scsiDisk[0].disk
    host_uuid = [d.uuid for d in first.runtime.host.config.storageDevice.scsiLun
                 if isinstance(d, vim.host.ScsiDisk) and d.canonicalName == lun.canonicalName][0]
    assert host_uuid != lun.uuid
    result = rdm("DC0_H0_VM0", lun=host_uuid)
    assert result["failed"] and result["error_code"] == "LUN_NOT_FOUND"
    assert "host's own uuid" in result["msg"] and lun.uuid in result["msg"]
    assert not rdm_disks(first)
    unknown = rdm("DC0_H0_VM0", lun="naa.000000")
    assert unknown["error_code"] == "LUN_NOT_FOUND" and lun.canonicalName in unknown["msg"]
