"""The lab's snapshot chains, shown with plain pyVmomi (no collection code): what vSphere does
with delta disks, and the CID rule that breaks a SAN restore done without a revert."""
import os

import pytest
from pyVmomi import vim

from conftest import find_vm_by_name, settle, wait, write_base_disk_directly

VM = "DC0_C0_RP0_VM0"


def _disk(vm):
    return [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0]


def _chain(backing):
    names = []
    while backing is not None:
        names.append(backing.fileName)
        backing = backing.parent
    return names


@pytest.fixture
def vm(si, lab):
    [machine] = find_vm_by_name(si, VM)
    yield machine
    settle(machine)


def test_snapshot_moves_the_backing_to_a_delta_and_revert_discards(vm, lab):
    base = _disk(vm).backing.fileName
    before = lab.inspect(VM)["disks"][0]["sha256"]
    snapshot = wait(vm.CreateSnapshot_Task("s1", "", False, False))
    leaf = _disk(vm).backing
    assert leaf.fileName == base.replace(".vmdk", "-000001.vmdk")
    assert leaf.parent.fileName == base and leaf.parent.parent is None
    assert lab.inspect(VM)["disks"][0]["chain"] == [leaf.fileName, base]

    lab.guest_write(VM, offset=1 << 20, length=64 * 1024, seed=5)
    assert lab.inspect(VM)["disks"][0]["sha256"] != before
    wait(snapshot.RevertToSnapshot_Task())
    assert lab.inspect(VM)["disks"][0]["sha256"] == before  # the write is gone
    assert _disk(vm).backing.parent.fileName == base


def test_remove_consolidates_the_writes_into_the_base(vm, lab):
    base = _disk(vm).backing.fileName
    wait(vm.CreateSnapshot_Task("s1", "", False, False))
    lab.guest_write(VM, offset=3 << 20, length=128 * 1024, seed=7)
    with_write = lab.inspect(VM)["disks"][0]["sha256"]
    wait(vm.snapshot.currentSnapshot.RemoveSnapshot_Task(removeChildren=False))
    assert vm.snapshot is None
    assert _disk(vm).backing.fileName == base and _disk(vm).backing.parent is None
    disk = lab.inspect(VM)["disks"][0]
    assert disk["chain"] == [base] and disk["sha256"] == with_write
    # The bytes are really in the base extent: read them from the flat file.
    with open(lab.disk_file(VM, base).replace(".vmdk", "-flat.vmdk"), "rb") as flat:
        flat.seek(3 << 20)
        written = flat.read(128 * 1024)
    assert written.count(0) < len(written) // 2  # pseudo-random data, not a hole


def test_writing_the_base_under_a_snapshot_breaks_removal_until_a_revert(vm, lab):
    """docs/vsphere-rules.md, rule A.4: a SAN restore writes the base disk; deleting the temporary snapshot
    then fails on a CID mismatch and the snapshot stays; reverting first makes it work."""
    base = _disk(vm).backing.fileName
    snapshot = wait(vm.CreateSnapshot_Task("san-restore", "", False, False))
    wait(vm.PowerOffVM_Task())
    write_base_disk_directly(lab.disk_file(VM, base), offset=0, data=b"\x01" * 4096)

    with pytest.raises(vim.fault.GenericVmConfigFault) as caught:
        wait(snapshot.RemoveSnapshot_Task(removeChildren=False))
    assert "CID mismatch" in caught.value.reason
    assert vm.snapshot is not None and vm.snapshot.currentSnapshot == snapshot  # it stays

    wait(snapshot.RevertToSnapshot_Task())
    wait(snapshot.RemoveSnapshot_Task(removeChildren=False))
    assert vm.snapshot is None and _disk(vm).backing.fileName == base
    with open(lab.disk_file(VM, base).replace(".vmdk", "-flat.vmdk"), "rb") as flat:
        assert flat.read(4096) == b"\x01" * 4096  # the restored data survived
    wait(vm.PowerOnVM_Task())


def test_remove_all_keeps_the_current_state_of_a_branched_tree(vm, lab):
    base = _disk(vm).backing.fileName
    first = wait(vm.CreateSnapshot_Task("first", "", False, False))
    lab.guest_write(VM, offset=8 << 20, length=65536, seed=1)
    wait(vm.CreateSnapshot_Task("second", "", False, False))
    lab.guest_write(VM, offset=9 << 20, length=65536, seed=2)
    wait(first.RevertToSnapshot_Task())
    wait(vm.CreateSnapshot_Task("third", "", False, False))
    lab.guest_write(VM, offset=10 << 20, length=65536, seed=3)
    current = lab.inspect(VM)["disks"][0]["sha256"]
    wait(vm.RemoveAllSnapshots_Task())
    disk = lab.inspect(VM)["disks"][0]
    assert disk["chain"] == [base] and disk["sha256"] == current
    folder = os.path.dirname(lab.disk_file(VM, base))
    assert sorted(n for n in os.listdir(folder) if n.endswith(".vmdk")) == ["disk1-flat.vmdk", "disk1.vmdk"]
