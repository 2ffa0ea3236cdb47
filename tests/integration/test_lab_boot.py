"""The lab's guest boots only from a bootable disk, as firmware decides at power-on: VMware Tools
and an IP address come only from a guest that booted. Shown with plain pyVmomi."""
import pytest
from pyVmomi import vim

from conftest import create_vm, destroy_vm, find_vm_by_name, wait

VM = "boot-vm"


def _tools(vm):
    return vm.guest.toolsRunningStatus


@pytest.fixture
def vm(si):
    machine = create_vm(si, VM, [8], bootable=False)
    yield machine
    destroy_vm(machine)


def test_a_new_empty_disk_does_not_boot_and_an_installed_boot_sector_does(vm, lab):
    wait(vm.PowerOnVM_Task())
    assert vm.runtime.powerState == "poweredOn" and _tools(vm) == "guestToolsNotRunning"
    wait(vm.PowerOffVM_Task())
    lab.configure_vm(VM, install_boot_sector=True)
    wait(vm.PowerOnVM_Task())
    assert _tools(vm) == "guestToolsRunning"


def test_a_running_guest_survives_losing_its_boot_sector_until_it_restarts(vm, lab, tmp_path):
    lab.configure_vm(VM, install_boot_sector=True)
    wait(vm.PowerOnVM_Task())
    zeros = tmp_path / "zeros"
    zeros.write_bytes(bytes(512))
    lab.guest_write(VM, offset=0, source=str(zeros))
    assert _tools(vm) == "guestToolsRunning"  # the OS in memory does not read its boot sector again
    wait(vm.ResetVM_Task())
    assert _tools(vm) == "guestToolsNotRunning"
    signature = tmp_path / "mbr"
    signature.write_bytes(bytes(510) + b"\x55\xaa")
    lab.guest_write(VM, offset=0, source=str(signature))
    wait(vm.ResetVM_Task())
    assert _tools(vm) == "guestToolsRunning"


def test_efi_firmware_needs_an_efi_system_partition_not_a_bios_boot_sector(vm, lab):
    lab.configure_vm(VM, install_boot_sector=True)  # BIOS: an MBR with the boot signature
    wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(firmware="efi")))
    wait(vm.PowerOnVM_Task())
    assert _tools(vm) == "guestToolsNotRunning"
    wait(vm.PowerOffVM_Task())
    lab.configure_vm(VM, install_boot_sector=True)  # now a GPT with an EFI System Partition
    wait(vm.PowerOnVM_Task())
    assert _tools(vm) == "guestToolsRunning"


def test_the_inventory_vms_boot_and_report_an_ip_only_while_tools_run(si):
    [machine] = find_vm_by_name(si, "DC0_H0_VM0")
    if machine.runtime.powerState != "poweredOn":
        wait(machine.PowerOnVM_Task())
    assert _tools(machine) == "guestToolsRunning"
    address = machine.guest.ipAddress
    assert address and address.startswith("127.")
    wait(machine.PowerOffVM_Task())
    assert machine.guest.ipAddress is None and _tools(machine) == "guestToolsNotRunning"
    wait(machine.PowerOnVM_Task())
    assert machine.guest.ipAddress == address  # the same guest, the same address
