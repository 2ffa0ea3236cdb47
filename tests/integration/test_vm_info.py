"""vm_info against the lab: what it reports matches what vCenter says, read independently."""
import pytest
from pyVmomi import vim

from conftest import create_vm, destroy_vm, find_vm_by_name, run_module, wait

VM = "DC0_H0_VM0"


def _plain_disks(vm):
    # govmomi 0.24 leaves capacityInBytes unset where vCenter fills both; the KB value is exact.
    return [(d.key, d.backing.fileName, d.capacityInBytes or d.capacityInKB * 1024) for d in vm.config.hardware.device
            if isinstance(d, vim.vm.device.VirtualDisk)]


def test_reports_identity_and_disks_as_vcenter_has_them(si):
    [vm] = find_vm_by_name(si, VM)
    result = run_module("vadp.vsphere.vm_info", {"name": VM})
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["vm"]["moid"] == vm._moId
    assert result["vm"]["uuid"] == vm.config.uuid and result["vm"]["instance_uuid"] == vm.config.instanceUuid
    assert result["vm"]["folder"] == "/DC0/vm" and result["vm"]["datacenter"] == "DC0"
    assert result["vm"]["host"] == vm.runtime.host.name
    assert result["vm"]["power_state"] == vm.runtime.powerState
    reported = [(d["key"], d["file_name"], d["capacity_bytes"]) for d in result["disks"]]
    assert reported == sorted(_plain_disks(vm))
    assert all(d["address"].startswith("scsi0:") for d in result["disks"])


@pytest.mark.parametrize("identify", ["moid", "uuid", "instance_uuid"])
def test_finds_the_vm_by_moid_and_uuids(si, identify):
    [vm] = find_vm_by_name(si, VM)
    args = {
        "moid": {"moid": vm._moId},
        "uuid": {"uuid": vm.config.uuid.upper()},
        "instance_uuid": {"uuid": vm.config.instanceUuid, "use_instance_uuid": True},
    }[identify]
    result = run_module("vadp.vsphere.vm_info", args)
    assert not result.get("failed"), result
    assert result["vm"]["name"] == VM and result["vm"]["moid"] == vm._moId


def test_snapshot_tree_has_every_branch(si):
    [vm] = find_vm_by_name(si, "DC0_H0_VM1")
    try:
        first = wait(vm.CreateSnapshot_Task("first", "", False, False))
        wait(vm.CreateSnapshot_Task("second", "", False, False))
        wait(first.RevertToSnapshot_Task())
        third = wait(vm.CreateSnapshot_Task("third", "on another branch", False, False))
        result = run_module("vadp.vsphere.vm_info", {"name": "DC0_H0_VM1"})
        [root] = result["snapshots"]
        assert root["name"] == "first" and root["moref"] == first._moId
        assert [c["name"] for c in root["children"]] == ["second", "third"]
        assert result["current_snapshot"] == third._moId
        assert [c["current"] for c in root["children"]] == [False, True]
    finally:
        wait(vm.RemoveAllSnapshots_Task())


def test_check_mode_reports_the_same(si):
    normal = run_module("vadp.vsphere.vm_info", {"name": VM})
    checked = run_module("vadp.vsphere.vm_info", {"name": VM}, check_mode=True)
    assert normal["disks"] == checked["disks"] and normal["vm"] == checked["vm"]


def test_unknown_vm(lab):
    result = run_module("vadp.vsphere.vm_info", {"name": "no-such-vm"})
    assert result["failed"] and result["error_code"] == "VM_NOT_FOUND"
    assert result["msg"] == "No VM with name 'no-such-vm'."


def test_two_vms_with_one_name_is_an_error_listing_both(si):
    [original] = find_vm_by_name(si, VM)
    datacenter = si.content.rootFolder.childEntity[0]
    folder = datacenter.vmFolder.CreateFolder("dr-copies")
    pool = original.resourcePool
    spec = vim.vm.ConfigSpec(name=VM, guestId="otherGuest", numCPUs=1, memoryMB=64,
                             files=vim.vm.FileInfo(vmPathName="[LocalDS_0]"))
    copy = wait(folder.CreateVM_Task(spec, pool, original.runtime.host))
    try:
        result = run_module("vadp.vsphere.vm_info", {"name": VM})
        assert result["failed"] and result["error_code"] == "VM_AMBIGUOUS"
        assert "2 VMs have name %r" % VM in result["msg"]
        assert "(moid %s, folder /DC0/vm)" % original._moId in result["msg"]
        assert "(moid %s, folder /DC0/vm/dr-copies)" % copy._moId in result["msg"]
        assert sorted(m["moid"] for m in result["matches"]) == sorted([original._moId, copy._moId])

        chosen = run_module("vadp.vsphere.vm_info", {"name": VM, "folder": "/DC0/vm/dr-copies"})
        assert chosen["vm"]["moid"] == copy._moId
        relative = run_module("vadp.vsphere.vm_info", {"name": VM, "folder": "dr-copies", "datacenter": "DC0"})
        assert relative["vm"]["moid"] == copy._moId
    finally:
        wait(copy.Destroy_Task())
        wait(folder.Destroy_Task())


def test_a_name_with_a_slash_is_found_as_typed_and_as_vcenter_keeps_it(si):
    """vCenter stores '/', '\\' and '%' in names escaped (web%2f01); users type web/01."""
    vm = create_vm(si, "lab/slash 100%", [1])
    try:
        assert vm.name == "lab%2fslash 100%25"
        for typed in ("lab/slash 100%", "lab%2fslash 100%25"):
            found = run_module("vadp.vsphere.vm_info", {"name": typed})
            assert not found.get("failed") and found["vm"]["moid"] == vm._moId, (typed, found)
    finally:
        destroy_vm(vm)
