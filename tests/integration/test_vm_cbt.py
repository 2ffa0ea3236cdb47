"""vm_cbt through ansible-playbook against the lab; CBT's effect checked with plain pyVmomi."""
import pytest
from pyVmomi import vim

from conftest import find_vm_by_name, run_module, unchanged, wait

VM = "DC0_H0_VM0"


def _change_ids(vm):
    return [d.backing.changeId for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]


@pytest.fixture
def vm(si):
    [machine] = find_vm_by_name(si, VM)
    yield machine
    run_module("vadp.vsphere.vm_cbt", {"name": VM, "state": "disabled"})


def cbt(state, check_mode=False):
    return run_module("vadp.vsphere.vm_cbt", {"name": VM, "state": state}, check_mode=check_mode)


def test_enable_and_disable_take_effect_once(vm):
    assert cbt("enabled", check_mode=True)["changed"] is True and not any(_change_ids(vm))
    enabled = cbt("enabled")
    assert enabled["changed"] is True and enabled["cbt_enabled"] is True
    assert all(_change_ids(vm)) and [d["change_id"] for d in enabled["disks"]] == _change_ids(vm)
    assert vm.snapshot is None  # the stun snapshot is gone
    assert unchanged(cbt("enabled"))

    disabled = cbt("disabled")
    assert disabled["changed"] is True and disabled["cbt_enabled"] is False and not any(_change_ids(vm))
    assert unchanged(cbt("disabled"))


def test_a_configured_but_not_yet_effective_cbt_is_completed(vm):
    wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(changeTrackingEnabled=True)))  # no stun yet
    assert vm.config.changeTrackingEnabled and not any(_change_ids(vm))
    assert cbt("enabled")["changed"] is True and all(_change_ids(vm))


def test_reset_voids_every_earlier_change_id(vm):
    cbt("enabled")
    old = _change_ids(vm)[0]
    reset = cbt("reset")
    assert reset["changed"] is True and all(_change_ids(vm)) and _change_ids(vm)[0] != old
    snapshot = wait(vm.CreateSnapshot_Task("probe", "", False, False))
    key = [d.key for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0]
    with pytest.raises(vim.fault.FileFault):
        vm.QueryChangedDiskAreas(snapshot=snapshot, deviceKey=key, startOffset=0, changeId=old)
    wait(snapshot.RemoveSnapshot_Task(removeChildren=False))
