"""The lab refuses at CreateVM what vCenter refuses in a new VM's configuration (names over 80
characters, impossible CPU and memory counts, two devices added with one key), as a fault, with no
VM left behind: a product check that the lab let through would prove nothing."""
import pytest
from pyVmomi import vim, vmodl

from conftest import find_vm_by_name, wait


def _spec(name, **changes):
    spec = vim.vm.ConfigSpec(name=name, guestId="otherGuest", numCPUs=2, memoryMB=64,
                             files=vim.vm.FileInfo(vmPathName="[LocalDS_0]"), deviceChange=[])
    for key, value in changes.items():
        setattr(spec, key, value)
    return spec


def _two_controllers_with_one_key():
    return [vim.vm.device.VirtualDeviceSpec(operation="add", device=vim.vm.device.ParaVirtualSCSIController(
        key=-100, busNumber=bus, sharedBus="noSharing")) for bus in (0, 1)]


@pytest.mark.parametrize("changes, fault", [
    ({"name": "n" * 81}, vim.fault.InvalidName),
    ({"numCPUs": 1000}, vim.fault.NumVirtualCpusNotSupported),
    ({"numCPUs": 6, "numCoresPerSocket": 4}, vmodl.fault.InvalidArgument),
    ({"memoryMB": 1022}, vmodl.fault.InvalidArgument),
    ({"memoryMB": 1 << 40}, vmodl.fault.InvalidArgument),
    ({"deviceChange": _two_controllers_with_one_key()}, vim.fault.InvalidDeviceSpec),
])
def test_createvm_refuses_what_vcenter_refuses(si, changes, fault):
    [template] = find_vm_by_name(si, "DC0_H0_VM0")
    name = changes.get("name", "lab-refused-config")
    with pytest.raises(fault):
        wait(template.parent.CreateVM_Task(_spec(**dict(changes, name=name)), template.resourcePool, template.runtime.host))
    assert find_vm_by_name(si, name) == []


def test_createvm_takes_the_limits_themselves(si):
    [template] = find_vm_by_name(si, "DC0_H0_VM0")
    machine = wait(template.parent.CreateVM_Task(_spec("l" * 80, numCPUs=768, numCoresPerSocket=8, memoryMB=4),
                                                 template.resourcePool, template.runtime.host))
    try:
        assert (machine.config.hardware.numCPU, machine.config.hardware.memoryMB) == (768, 4)
    finally:
        wait(machine.Destroy_Task())
