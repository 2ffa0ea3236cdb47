"""temp_snapshot through ansible-playbook against the lab, checked with pyVmomi and lab inspect."""
import os
import subprocess
import sys
import time

import pytest

from conftest import find_vm_by_name, run_module, unchanged, wait

VM = "DC0_H0_VM0"


def _names(vm):
    names, pending = [], list(vm.snapshot.rootSnapshotList) if vm.snapshot else []
    while pending:
        node = pending.pop(0)
        names.append(node.name)
        pending = list(node.childSnapshotList) + pending
    return names


@pytest.fixture
def vm(si, lab):
    [machine] = find_vm_by_name(si, VM)
    yield machine
    lab.control("/faults", {"tasks": []})
    if machine.snapshot is not None:
        wait(machine.RemoveAllSnapshots_Task())


def snap(state="present", vm_name=VM, check_mode=False, **args):
    return run_module("vadp.vsphere.temp_snapshot", dict(name=vm_name, state=state, **args), check_mode=check_mode)


def test_present_and_absent_are_idempotent_and_check_mode_changes_nothing(vm):
    assert snap(snapshot_name="t1", check_mode=True)["changed"] is True and vm.snapshot is None
    created = snap(snapshot_name="t1")
    assert created["changed"] is True and _names(vm) == ["t1"]
    assert created["snapshot"]["moref"] == vm.snapshot.currentSnapshot._moId
    [disk] = created["disks"]
    assert disk["file_name"].endswith("-000001.vmdk") and disk["parent_chain"] == [disk["base_file_name"]]
    again = snap(snapshot_name="t1")
    assert again["changed"] is False and again["snapshot"]["moref"] == created["snapshot"]["moref"]

    assert snap("absent", snapshot_name="t1", check_mode=True)["changed"] is True and _names(vm) == ["t1"]
    removed = snap("absent", snapshot_name="t1")
    assert removed["changed"] is True and vm.snapshot is None and removed["disks"][0]["parent_chain"] == []
    assert unchanged(snap("absent", snapshot_name="t1"))


def test_revert_needs_an_existing_snapshot_and_discards_writes(vm, lab):
    missing = snap("reverted", snapshot_name="nope")
    assert missing["failed"] and missing["error_code"] == "SNAPSHOT_NOT_FOUND" and "no snapshot with name 'nope'" in missing["msg"]
    snap(snapshot_name="before")
    before = lab.inspect(VM)["disks"][0]["sha256"]
    lab.guest_write(VM, offset=2 << 20, length=65536, seed=9)
    assert snap("reverted", snapshot_name="before", check_mode=True)["changed"] is True
    assert lab.inspect(VM)["disks"][0]["sha256"] != before  # check mode did not revert
    reverted = snap("reverted", snapshot_name="before")
    assert reverted["changed"] is True and lab.inspect(VM)["disks"][0]["sha256"] == before


def test_a_three_deep_tree_with_branches(vm, lab):
    morefs = {}
    for name in ("s1", "s2", "s3"):
        morefs[name] = snap(snapshot_name=name)["snapshot"]["moref"]
        lab.guest_write(VM, offset=(20 + len(morefs)) << 20, length=65536, seed=len(morefs))
    snap("reverted", snapshot_name="s1")
    morefs["b1"] = snap(snapshot_name="b1")["snapshot"]["moref"]
    lab.guest_write(VM, offset=30 << 20, length=65536, seed=30)
    for name, moref in morefs.items():  # found in any branch, at any depth
        found = snap(snapshot_name=name)
        assert found["changed"] is False and found["snapshot"]["moref"] == moref

    # the same name in two branches: an error naming both, unless the moref says which
    snap("reverted", snapshot_name="s2")
    dup_a = snap(snapshot_name="dup")["snapshot"]["moref"]
    snap("reverted", snapshot_name="b1")
    wait(vm.CreateSnapshot_Task("dup", "", False, False))
    ambiguous = snap("absent", snapshot_name="dup")
    assert ambiguous["failed"] and ambiguous["error_code"] == "SNAPSHOT_AMBIGUOUS" and dup_a in ambiguous["msg"]
    assert snap("absent", snapshot_moref=dup_a)["changed"] is True

    current = lab.inspect(VM)["disks"][0]["sha256"]
    removed = snap("absent_all")
    assert sorted(s["name"] for s in removed["removed"]) == ["b1", "dup", "s1", "s2", "s3"]
    assert vm.snapshot is None
    disk = lab.inspect(VM)["disks"][0]
    assert len(disk["chain"]) == 1 and disk["sha256"] == current  # the base holds what was written
    assert unchanged(snap("absent_all"))


def test_leftover_deltas_are_consolidated(vm, lab):
    snap(snapshot_name="c1")
    lab.guest_write(VM, offset=40 << 20, length=65536, seed=40)
    current = lab.inspect(VM)["disks"][0]["sha256"]
    lab.configure_vm(VM, leave_delta_on_next_remove=True)
    result = snap("absent", snapshot_name="c1")
    assert result["consolidated"] is True and not vm.runtime.consolidationNeeded
    disk = lab.inspect(VM)["disks"][0]
    assert len(disk["chain"]) == 1 and disk["sha256"] == current


def test_a_failing_task_and_a_slow_one(vm, lab):
    lab.control("/faults", {"tasks": [{"method": "CreateSnapshot_Task", "fault": "FileLocked",
                                       "message": "[LocalDS_0] DC0_H0_VM0/disk1.vmdk", "times": 1}]})
    failed = snap(snapshot_name="locked")
    assert failed["failed"] and failed["error_code"] == "TASK_FAILED" and failed["fault"] == "FileLocked"
    assert "FileLocked: Unable to access file [LocalDS_0] DC0_H0_VM0/disk1.vmdk since it is locked" in failed["msg"]
    assert vm.snapshot is None

    snap(snapshot_name="slow")
    lab.control("/faults", {"tasks": [{"method": "RemoveSnapshot_Task", "delay_seconds": 4, "times": 1}]})
    timed_out = snap("absent", snapshot_name="slow", timeout=1)
    assert timed_out["failed"] and timed_out["error_code"] == "TASK_TIMEOUT"
    assert "still running at 50% in vCenter" in timed_out["msg"] and timed_out["task"] in timed_out["msg"]
    deadline = time.monotonic() + 120  # a bound only: the removal finishing ends the wait
    while vm.snapshot is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert vm.snapshot is None  # vCenter finished it after the module gave up waiting


def _san_write(lab, vm, path, snapshot_moref):
    script = os.path.join(os.path.dirname(__file__), "vddk_ctypes.py")
    out = subprocess.run([sys.executable, script, vm._moId, "san-write", path, snapshot_moref],
                         capture_output=True, text=True, check=True).stdout
    assert "write 0" in out, out


def test_the_san_restore_sequence(eager_vm, lab):
    name = eager_vm.name
    temp = snap(vm_name=name, snapshot_name="vadp-restore")
    # SAN writes the base disk beneath the restore snapshot (it does not write redo logs)
    _san_write(lab, eager_vm, temp["disks"][0]["base_file_name"], temp["snapshot"]["moref"])

    without_revert = snap("absent", vm_name=name, snapshot_name="vadp-restore")
    assert without_revert["failed"] and without_revert["error_code"] == "CID_MISMATCH"
    assert "Revert to it first" in without_revert["msg"] and "content ID" in without_revert["msg"]
    assert _names(eager_vm) == ["vadp-restore"]  # the snapshot is still there

    assert snap("reverted", vm_name=name, snapshot_name="vadp-restore")["changed"] is True
    assert snap("absent", vm_name=name, snapshot_name="vadp-restore")["changed"] is True
    assert eager_vm.snapshot is None
    with open(lab.disk_file(name, temp["disks"][0]["base_file_name"]).replace(".vmdk", "-flat.vmdk"), "rb") as f:
        assert f.read(4096) == b"\x5a" * 4096  # the restored data is in the base disk
    on = run_module("vadp.vsphere.vm_power", {"name": name, "state": "powered-on"})
    assert on["changed"] is True and eager_vm.runtime.powerState == "poweredOn"
    wait(eager_vm.PowerOffVM_Task())
