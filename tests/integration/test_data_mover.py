"""The data mover (worker process, VDDK binding) writing into the lab's disks through the double."""
import hashlib
import os
import signal
import threading

import pytest
from pyVmomi import vim

from conftest import VddkHold, create_vm, destroy_vm, find_vm_by_name, run_module, wait, wait_for
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.mover import DataMover, TransferFailedError
from ansible_collections.vadp.vsphere.plugins.module_utils._files import read_json
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer import plan as transfer_plan

VM = "DC0_C0_RP0_VM1"
MIB = 1 << 20


def _disks(vm):
    return [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]


def _image(tmp_path, name, size):
    path = tmp_path / name
    with open(path, "wb") as f:
        for _i in range(size // MIB):
            f.write(os.urandom(MIB))
    with open(path, "rb") as f:
        return str(path), hashlib.sha256(f.read()).hexdigest()


def _plan(lab, vm, disks, **overrides):
    settings = dict(dict(buffer_bytes=MIB, in_flight=4, checkpoint_every_bytes=16 * MIB), **overrides)
    return transfer_plan.TransferPlan("write", transfer_plan.VddkLibrary(os.environ["VDDK_LIBDIR"]),
                                      transfer_plan.ConnectParams(server=lab.host, port=lab.port, user=lab.user, thumbprint=lab.thumbprint_sha1,
                                                                  vm_moref=vm._moId, transports="nbdssl:nbd"), disks, **settings)


def _disk_plan(disk, image, size, **fields):
    """The whole raw image onto the disk."""
    return transfer_plan.WriteDiskPlan(str(disk.key), disk.backing.fileName, transfer_plan.FilesSource([image]),
                                       [transfer_plan.FileExtent(0, size, 0, 0)], **fields)


@pytest.fixture
def off_vm(si):
    [machine] = find_vm_by_name(si, VM)
    if machine.runtime.powerState == "poweredOn":
        wait(machine.PowerOffVM_Task())
    yield machine
    wait(machine.PowerOnVM_Task())


def test_a_whole_disk_is_written_with_metadata_first(lab, off_vm, tmp_path):
    [disk] = _disks(off_vm)
    image, digest = _image(tmp_path, "disk.img", disk.capacityInBytes)
    plan = _plan(lab, off_vm, [_disk_plan(disk, image, disk.capacityInBytes, metadata={"toolsVersion": "12352"})],
                 unbuffered=True)  # direct I/O: the mover's buffers are page aligned
    mover = DataMover(str(tmp_path / "state"))
    status = mover.run(plan, {"password": lab.password})
    assert status.state == "done" and status.bytes_done == status.bytes_total == disk.capacityInBytes
    assert status.disks[0].transport == "nbdssl"
    calls = status.vddk_calls  # which VDDK call the time went to, call by call
    assert {name: calls[name]["count"] for name in ("Open", "WriteMetadata", "Close")} == {
        "Open": 1, "WriteMetadata": 1, "Close": 1}
    assert calls["WriteAsync"]["count"] == -(-disk.capacityInBytes // MIB) and calls["WriteAsync"]["seconds"] > 0
    # every call is counted where the binding makes it, the session's own calls included
    assert {"InitEx", "Cleanup", "PrepareForAccess", "ConnectEx", "Flush", "Disconnect", "EndAccess"} <= set(calls), calls
    assert lab.inspect(VM)["disks"][0]["sha256"] == digest
    with open(lab.disk_file(VM, disk.backing.fileName)) as descriptor:
        assert 'ddb.toolsVersion = "12352"' in descriptor.read()  # metadata written
    assert not os.path.exists(mover.paths()["checkpoint"])  # a finished transfer leaves none
    with open(mover.paths()["plan"]) as f:
        assert lab.password not in f.read()  # the password went on stdin only


def test_a_failed_write_stops_with_a_checkpoint_and_the_next_run_resumes(lab, off_vm, tmp_path):
    [disk] = _disks(off_vm)
    image, digest = _image(tmp_path, "disk.img", disk.capacityInBytes)
    plan = _plan(lab, off_vm, [_disk_plan(disk, image, disk.capacityInBytes)])
    state = str(tmp_path / "state")
    with DataMover(state, extra_env={"VDDK_DOUBLE_FAIL_WRITE": "100"}) as mover, pytest.raises(TransferFailedError) as caught:
        mover.run(plan, {"password": lab.password})
    error = caught.value
    assert error.error_code == "TRANSFER_FAILED" and "VIX_E_FILE_ERROR" in str(error)
    assert "injected failure of write number 100" in str(error) and "resumes there" in str(error)
    done = error.details["checkpoint"]["done_bytes"][str(disk.key)]
    assert 0 < done < 100 * MIB and done % (16 * MIB) == 0

    resumed = DataMover(state).run(plan, {"password": lab.password}).disks[0]
    assert resumed.resumed_from == done and resumed.bytes_done == disk.capacityInBytes
    assert lab.inspect(VM)["disks"][0]["sha256"] == digest


def _run_in_background(mover, plan, secrets):
    outcome = {}

    def run():
        try:
            outcome["result"] = mover.run(plan, secrets)
        except TransferFailedError as exc:
            outcome["error"] = exc
    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.watches_transfer
def test_a_killed_worker_is_a_clear_error(lab, off_vm, tmp_path):
    [disk] = _disks(off_vm)
    image, _digest = _image(tmp_path, "disk.img", 64 * MIB)
    hold = VddkHold(tmp_path, at=3)
    mover = DataMover(str(tmp_path / "state"), extra_env=hold.env)
    thread, outcome = _run_in_background(mover, _plan(lab, off_vm, [_disk_plan(disk, image, 64 * MIB)]),
                                         {"password": lab.password})
    hold.wait_until_held()
    wait_for(lambda: read_json(mover.paths()["status"]), 60, "the worker wrote its status")
    os.kill(read_json(mover.paths()["status"])["pid"], signal.SIGKILL)
    thread.join(120)  # the mover sees the exit at once; 120 s only bounds a broken one
    assert not thread.is_alive() and "killed by signal SIGKILL" in str(outcome["error"])


@pytest.mark.watches_transfer
def test_a_hung_worker_is_stopped(lab, off_vm, tmp_path):
    """A VDDK call that never returns (held, never released) ends in a clear error once the
    watchdog has seen no progress for stall_seconds."""
    [disk] = _disks(off_vm)
    image, _digest = _image(tmp_path, "disk.img", 8 * MIB)
    hold = VddkHold(tmp_path, at=1)
    mover = DataMover(str(tmp_path / "state"), stall_seconds=2, extra_env=hold.env)
    thread, outcome = _run_in_background(mover, _plan(lab, off_vm, [_disk_plan(disk, image, 8 * MIB)]),
                                         {"password": lab.password})
    hold.wait_until_held()
    thread.join(120)
    assert not thread.is_alive() and "made no progress for 2 s" in str(outcome["error"])


@pytest.fixture
def two_disk_vm(si):
    machine = create_vm(si, "lab-two-disks", [32, 32])
    yield machine
    destroy_vm(machine)


def test_two_disks_are_written_in_parallel(lab, two_disk_vm, tmp_path):
    disks = _disks(two_disk_vm)
    images = [_image(tmp_path, "d%d.img" % i, 32 * MIB) for i in range(2)]
    plan = _plan(lab, two_disk_vm, [_disk_plan(d, img, 32 * MIB) for d, (img, _digest) in zip(disks, images)],
                 parallel_disks=2)
    status = DataMover(str(tmp_path / "state")).run(plan, {"password": lab.password})
    assert [d.state for d in status.disks] == ["done", "done"]
    assert [d["sha256"] for d in lab.inspect("lab-two-disks")["disks"]] == [digest for _img, digest in images]


@pytest.mark.watches_transfer
def test_transfer_status_shows_progress_while_it_runs(lab, off_vm, tmp_path):
    [disk] = _disks(off_vm)
    image, _digest = _image(tmp_path, "disk.img", 16 * MIB)
    state = str(tmp_path / "state")
    hold = VddkHold(tmp_path, at=3)  # 2 MiB writes: two are done when the third is held
    mover = DataMover(state, extra_env=hold.env)
    before = run_module("vadp.vsphere.transfer_status", {"state_dir": state})
    assert before["finished"] is False and before["summary"] == "not started"
    misspelt = run_module("vadp.vsphere.transfer_status", {"state_dir": state + "-typo"})
    assert misspelt["failed"] and misspelt["error_code"] == "NOT_FOUND" and "no such folder" in misspelt["msg"]
    thread, outcome = _run_in_background(mover, _plan(lab, off_vm, [_disk_plan(disk, image, 16 * MIB)]),
                                         {"password": lab.password})
    try:
        hold.wait_until_held()
        wait_for(lambda: (read_json(mover.paths()["status"]) or {}).get("bytes_done"), 60, "the status shows the writes")
        running = run_module("vadp.vsphere.transfer_status", {"state_dir": state})
    finally:
        hold.release()
    assert running["finished"] is False and running["status"]["state"] == "running"
    assert 0 < running["status"]["bytes_done"] < 16 * MIB and running["summary"].startswith("running, ")
    thread.join(300)
    assert "result" in outcome, outcome
    done = run_module("vadp.vsphere.transfer_status", {"state_dir": state})
    assert done["finished"] is True and done["summary"] == "done, 16.0 MiB of 16.0 MiB (100%)"
