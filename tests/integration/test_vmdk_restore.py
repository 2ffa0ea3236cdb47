"""vmdk_restore through ansible-playbook against the lab: restored disks are checked with lab
inspect against the checksum the disk had when each point was taken."""
import pytest
from pyVmomi import vim

from conftest import VddkHold, create_vm, destroy_vm, find_vm_by_name, run_module, settle, unchanged, wait

VM = "DC0_H0_VM1"
MIB = 1 << 20


@pytest.fixture
def vm(si, lab):
    [machine] = find_vm_by_name(si, VM)
    settle(machine)
    run_module("vadp.vsphere.vm_cbt", {"name": VM, "state": "enabled"})
    yield machine
    settle(machine)
    run_module("vadp.vsphere.vm_cbt", {"name": VM, "state": "disabled"})


def backup(repo):
    result = run_module("vadp.vsphere.vm_backup", {"name": VM, "repository": str(repo)})
    assert not result.get("failed"), result
    return result


def restore(repo, env=None, name=VM, **args):
    return run_module("vadp.vsphere.vmdk_restore", dict(name=name, repository=str(repo), **args), env=env)


def sha(lab, name=VM):
    return lab.inspect(name)["disks"][0]["sha256"]


def _leaf(vm):
    return [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0].backing.fileName


def test_every_point_of_a_chain_restores_exactly_in_place(vm, lab, tmp_path):
    repo, points = tmp_path / "repo", []
    for round_number in range(3):
        if round_number:
            for i in range(3):
                lab.guest_write(VM, offset=(30 * round_number + 7 * i) * MIB, length=65536, seed=10 * round_number + i)
        points.append((backup(repo)["point_id"], sha(lab)))
    lab.guest_write(VM, offset=220 * MIB, length=MIB, seed=99)  # after the last backup: must be undone
    leaf = _leaf(vm)
    wait(vm.PowerOffVM_Task())
    for point_id, expected in points:
        result = restore(repo, restore_point=point_id, state_dir=str(tmp_path / ("state-" + point_id)))
        assert not result.get("failed"), result
        assert result["point"]["id"] == point_id and result["disks"][0]["transport"] == "nbdssl"
        assert sha(lab) == expected
    assert _leaf(vm) == leaf  # still the same file
    assert result["cbt_reset"] is True
    again = restore(repo, restore_point=points[-1][0], state_dir=str(tmp_path / ("state-" + points[-1][0])))
    assert again["changed"] is False and sha(lab) == points[-1][1]


@pytest.fixture
def new_vm(si):
    machine = create_vm(si, "lab-restored", [256])
    yield machine
    destroy_vm(machine)


def test_fresh_restore_onto_a_new_thin_disk_stays_thin(vm, new_vm, lab, tmp_path):
    repo = tmp_path / "repo"
    backup(repo)
    expected = sha(lab)
    result = restore(repo, name="lab-restored", source_vm=VM, mode="fresh")
    assert not result.get("failed"), result
    disk = lab.inspect("lab-restored")["disks"][0]
    assert disk["sha256"] == expected
    written = result["disks"][0]["bytes_written"]
    assert written == result["disks"][0]["bytes_to_write"] < disk["capacity"]  # the non-zero chunks only
    assert disk["allocated_bytes"] <= written  # the new thin disk holds no more than the data


def test_a_damaged_chunk_stops_the_restore_before_it_is_written(vm, lab, tmp_path):
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
    repo = tmp_path / "repo"
    backup(repo)
    store = Repository(str(repo))
    [manifest] = store.points.list()
    index = store.points.read_index(manifest, manifest["disks"][0])
    number, chunk = [(i, e) for i, e in enumerate(index.entries) if e][1]
    size = store.chunk_size
    with open(store.storage.path(store.chunks.key(chunk)), "r+b") as f:
        f.seek(70)
        f.write(b"\x00\x01\x02")
    lab.guest_write(VM, offset=number * size, length=65536, seed=5)  # differs from the backup there
    wait(vm.PowerOffVM_Task())
    flat = lab.disk_file(VM, _leaf(vm)).replace(".vmdk", "-flat.vmdk")
    with open(flat, "rb") as f:
        f.seek(number * size)
        before = f.read(size)
    result = restore(repo)
    assert result["failed"] and result["error_code"] == "CHUNK_CORRUPT"
    assert "point %s, disk %s, offset %d" % (manifest["id"], manifest["disks"][0]["key"], number * size) in result["msg"]
    with open(flat, "rb") as f:
        f.seek(number * size)
        assert f.read(size) == before  # the damaged chunk never reached the disk


def test_an_interrupted_restore_resumes_and_then_reports_unchanged(vm, lab, tmp_path):
    repo, state = tmp_path / "repo", str(tmp_path / "state")
    backup(repo)
    expected = sha(lab)
    # 128 MiB to undo, in 64 writes of 2 MiB besides the point's own small ones: the write that
    # fails comes after the first checkpoint (64 MiB)
    for i in range(4):
        lab.guest_write(VM, offset=(40 + 50 * i) * MIB, length=32 * MIB, seed=40 + i)
    wait(vm.PowerOffVM_Task())
    failed = restore(repo, state_dir=state, env={"VDDK_DOUBLE_FAIL_WRITE": "60"})
    assert failed["failed"] and failed["error_code"] == "TRANSFER_FAILED" and "resumes there" in failed["msg"]
    resumed = restore(repo, state_dir=state)
    assert resumed["resumed"] is True and resumed["changed"] is True and sha(lab) == expected
    assert unchanged(restore(repo, state_dir=state))


def test_refusals_write_nothing(vm, lab, tmp_path, si):
    repo = tmp_path / "repo"
    backup(repo)
    before = sha(lab)
    assert restore(repo)["error_code"] == "VM_POWERED_ON"
    wait(vm.PowerOffVM_Task())
    assert restore(repo, restore_point="20200101T000000Z-000000")["error_code"] == "POINT_NOT_FOUND"
    assert restore(repo, transport="san")["error_code"] == "SAN_NEEDS_SNAPSHOT"
    assert restore(repo, transport="")["error_code"] == "INVALID_ARGUMENT"  # VDDK would choose any mode, SAN too
    assert sha(lab) == before


def test_changed_only_writes_just_what_the_guest_changed(vm, lab, tmp_path):
    repo, state = tmp_path / "repo", str(tmp_path / "state")
    backup(repo)
    expected = sha(lab)
    lab.guest_write(VM, offset=10 * MIB + 4096, length=8192, seed=61)  # inside one chunk
    lab.guest_write(VM, offset=100 * MIB, length=3 * MIB, seed=62)     # across a chunk border
    wait(vm.PowerOffVM_Task())
    plan = run_module("vadp.vsphere.vmdk_restore", {"name": VM, "repository": str(repo), "mode": "changed_only",
                                                    "state_dir": state}, check_mode=True)
    assert plan["changed"] is True and sha(lab) != expected  # the plan only
    result = restore(repo, mode="changed_only", state_dir=state)
    assert not result.get("failed"), result
    assert sha(lab) == expected
    written = result["disks"][0]["bytes_written"]
    assert written == plan["disks"][0]["bytes_to_write"]
    assert 3 * MIB + 8192 <= written <= 3 * MIB + 8192 + 4 * 65536  # CBT's blocks round it up a little
    assert result["cbt_reset"] is True
    # the same restore again: CBT was reset, but the record of the restore shows the point is there
    again = restore(repo, mode="changed_only", state_dir=state)
    assert not again.get("failed") and again["changed"] is False, again
    # without that record the point's change id is void, and changed_only says so
    refused = restore(repo, mode="changed_only", state_dir=str(tmp_path / "other"))
    assert refused["failed"] and refused["error_code"] == "CHANGED_ONLY_IMPOSSIBLE"
    assert "restore with mode full" in refused["msg"]


def test_a_write_after_the_restore_makes_the_rerun_restore_again(vm, lab, tmp_path):
    repo, state = tmp_path / "repo", str(tmp_path / "state")
    backup(repo)
    expected = sha(lab)
    wait(vm.PowerOffVM_Task())
    assert restore(repo, state_dir=state)["changed"] is True
    wait(vm.PowerOnVM_Task())  # the VM is used after the restore
    lab.guest_write(VM, offset=50 * MIB, length=65536, seed=71)
    wait(vm.PowerOffVM_Task())
    again = restore(repo, state_dir=state)
    assert again["changed"] is True and again["disks"][0]["bytes_written"] > 0 and sha(lab) == expected


def _image(path, size, writes):
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in writes:
            f.seek(offset)
            f.write(data)


def _sha_of(path):
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def test_raw_image_and_chain_sources(new_vm, lab, tmp_path):
    import json
    import os
    size = 256 * MIB
    full = tmp_path / "full.raw"
    _image(full, size, [(0, os.urandom(MIB)), (200 * MIB, os.urandom(2 * MIB))])
    result = run_module("vadp.vsphere.vmdk_restore", {"name": "lab-restored", "raw_images": {"scsi0:0": str(full)},
                                                      "mode": "fresh"})
    assert not result.get("failed"), result
    disk = lab.inspect("lab-restored")["disks"][0]
    assert disk["sha256"] == _sha_of(full)
    # zeros are skipped per 2 MiB piece: the pieces at 0 and at 200 MiB are written, nothing else
    assert result["disks"][0]["bytes_written"] == 4 * MIB and disk["allocated_bytes"] <= 4 * MIB
    # a chain: the full plus a packed incremental that changes two areas, one of them to zeros
    areas = [[512 * 1024, 65536], [200 * MIB, 65536]]
    inc = os.urandom(65536) + bytes(65536)
    (tmp_path / "inc1.bin").write_bytes(inc)
    (tmp_path / "chain.json").write_text(json.dumps({"capacity": size, "full": "full.raw", "incrementals": [
        {"data": "inc1.bin", "layout": "packed", "extents": areas}]}))
    expected = tmp_path / "expected.raw"
    _image(expected, size, [])
    with open(full, "rb") as f, open(expected, "r+b") as out:
        out.write(f.read())
        for (offset, length), position in zip(areas, (0, 65536)):
            out.seek(offset)
            out.write(inc[position:position + length])
    result = run_module("vadp.vsphere.vmdk_restore", {"name": "lab-restored", "chains": {"scsi0:0": str(tmp_path / "chain.json")}})
    assert not result.get("failed"), result
    assert lab.inspect("lab-restored")["disks"][0]["sha256"] == _sha_of(expected)
    assert result["point"]["type"] == "chain" and result["disks"][0]["bytes_written"] == size  # full mode writes all
    missing = run_module("vadp.vsphere.vmdk_restore", {"name": "lab-restored", "raw_images": {"scsi0:0": str(tmp_path / "no.raw")}})
    assert missing["failed"] and missing["error_code"] == "REPOSITORY_ERROR" and "no.raw" in missing["msg"]


def test_a_target_smaller_than_the_source_is_refused(vm, lab, tmp_path, si):
    repo = tmp_path / "repo"
    backup(repo)
    small = create_vm(si, "lab-small", [128])
    try:
        before = lab.inspect("lab-small")["disks"][0]["sha256"]
        result = restore(repo, name="lab-small", source_vm=VM, mode="fresh")
        assert result["failed"] and result["error_code"] == "DISK_TOO_SMALL" and "grow it first" in result["msg"]
        assert lab.inspect("lab-small")["disks"][0]["sha256"] == before
    finally:
        destroy_vm(small)


def test_read_back_verification_catches_a_write_the_disk_did_not_keep(vm, lab, tmp_path):
    repo, state = tmp_path / "repo", str(tmp_path / "state")
    backup(repo)
    expected = sha(lab)
    lab.guest_write(VM, offset=60 * MIB, length=MIB, seed=33)
    wait(vm.PowerOffVM_Task())
    # the double's 3rd write succeeds but lands with one byte flipped: only reading back can tell
    damaged = restore(repo, state_dir=state, verify_after_write=True, env={"VDDK_DOUBLE_CORRUPT_WRITE": "3"})
    assert damaged["failed"] and damaged["error_code"] == "READ_BACK_MISMATCH" and "at offset" in damaged["msg"]
    assert sha(lab) != expected
    result = restore(repo, state_dir=state, verify_after_write=True)
    assert not result.get("failed"), result
    assert sha(lab) == expected
    assert result["disks"][0]["bytes_read_back"] == result["disks"][0]["bytes_written"] > 0


@pytest.mark.watches_transfer
def test_storage_vmotion_is_disabled_while_the_restore_holds_the_disks(vm, lab, tmp_path):
    """PrepareForAccess before the transfer, EndAccess after: vCenter lists RelocateVM_Task in
    the VM's disabledMethod meanwhile (the lab does what vCenter does)."""
    import threading
    repo = tmp_path / "repo"
    backup(repo)
    wait(vm.PowerOffVM_Task())
    assert "RelocateVM_Task" not in (vm.disabledMethod or [])
    outcome, hold = {}, VddkHold(tmp_path, at=1)  # the first write waits until the test has looked
    worker = threading.Thread(target=lambda: outcome.update(restore(repo, env=hold.env)))
    worker.start()
    try:
        hold.wait_until_held()
        disabled_meanwhile = "RelocateVM_Task" in (vm.disabledMethod or [])
    finally:
        hold.release()
        worker.join()
    assert not outcome.get("failed"), outcome
    assert disabled_meanwhile and "RelocateVM_Task" not in (vm.disabledMethod or [])
    # no state_dir given: the folder it used is the one vm_info names for this VM's restores
    assert outcome["state_dir"] == run_module("vadp.vsphere.vm_info", {"name": VM})["state_dirs"]["restore"]


def test_a_second_restore_of_the_same_vm_at_once_is_refused(vm, lab, tmp_path):
    """A transfer of the VM is under way (its locks held, as a running restore holds them): a second
    restore is refused before it writes, by the state folder's lock and by the VM's whatever the
    folder; once the first is over it runs."""
    from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.mover import DataMover
    repo, state = tmp_path / "repo", str(tmp_path / "state")
    backup(repo)
    expected = sha(lab)
    lab.guest_write(VM, offset=70 * MIB, length=MIB, seed=44)
    wait(vm.PowerOffVM_Task())
    changed = sha(lab)
    running = DataMover(state, vm_key=vm.config.instanceUuid)
    try:
        same_folder = restore(repo, state_dir=state)
        other_folder = restore(repo, state_dir=str(tmp_path / "other"))
    finally:
        running.close()
    assert same_folder["failed"] and same_folder["error_code"] == "TRANSFER_BUSY" and "is using" in same_folder["msg"]
    assert other_folder["failed"] and other_folder["error_code"] == "TRANSFER_BUSY"
    assert vm.config.instanceUuid in other_folder["msg"] and sha(lab) == changed  # nothing written
    assert not restore(repo, state_dir=state).get("failed") and sha(lab) == expected
