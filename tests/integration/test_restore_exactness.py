"""Restores leave exactly the point's bytes, or refuse before writing, or say what they left:
the field-correctness defects found by reading the product against VMware's rules, each shown
on the lab (through vmdk_restore, run by ansible-playbook)."""
import hashlib
import json
import os

import pytest
from pyVmomi import vim

from conftest import create_vm, destroy_vm, read_vddk_trace, run_module, sectors_written, wait

MIB = 1 << 20
ODD_MIB = 64 + 32 / 1024  # 64 MiB + 32 KiB: the last 64 KiB allocation chunk is half outside the disk


@pytest.fixture
def odd_vm(si, lab):
    """A VM whose disk is 64 MiB + 32 KiB, CBT on, running (so its guest can write)."""
    machine = create_vm(si, "lab-odd", [ODD_MIB])
    assert run_module("vadp.vsphere.vm_cbt", {"name": "lab-odd", "state": "enabled"}).get("changed") is not None
    wait(machine.PowerOnVM_Task())
    yield machine
    destroy_vm(machine)


def _sha(lab, name):
    return lab.inspect(name)["disks"][0]["sha256"]


def _restore(name, **args):
    env = args.pop("env", None)
    return run_module("vadp.vsphere.vmdk_restore", dict(name=name, **args), env=env)


def test_a_full_restore_writes_the_zeros_of_a_partial_last_chunk(odd_vm, lab, tmp_path):
    repo = tmp_path / "repo"
    capacity = lab.inspect("lab-odd")["disks"][0]["capacity"]
    assert capacity == 64 * MIB + 32 * 1024
    assert not run_module("vadp.vsphere.vm_backup", {"name": "lab-odd", "repository": str(repo)}).get("failed")
    point = _sha(lab, "lab-odd")
    lab.guest_write("lab-odd", offset=capacity - 32 * 1024, length=32 * 1024, seed=7)  # the disk's very tail
    assert _sha(lab, "lab-odd") != point
    wait(odd_vm.PowerOffVM_Task())
    result = _restore("lab-odd", repository=str(repo), state_dir=str(tmp_path / "state"))
    assert not result.get("failed"), result
    assert _sha(lab, "lab-odd") == point  # the point's zeros reached the tail


def test_without_allocation_answers_every_zero_is_written(odd_vm, lab, tmp_path):
    repo = tmp_path / "repo"
    assert not run_module("vadp.vsphere.vm_backup", {"name": "lab-odd", "repository": str(repo)}).get("failed")
    point = _sha(lab, "lab-odd")
    lab.guest_write("lab-odd", offset=40 * MIB, length=MIB, seed=8)
    wait(odd_vm.PowerOffVM_Task())
    # an older host, or a datastore, where QueryAllocatedBlocks answers NOT_SUPPORTED
    result = _restore("lab-odd", repository=str(repo), env={"VDDK_DOUBLE_QUERY_ALLOCATED": "unsupported"})
    assert not result.get("failed"), result
    assert _sha(lab, "lab-odd") == point
    assert result["disks"][0]["allocation_known"] is False
    assert any("QueryAllocatedBlocks" in w for w in result.get("warnings", []))


@pytest.fixture
def backed_up(odd_vm, lab, tmp_path):
    """lab-odd backed up, then changed by its guest and powered off: a restore has work to do."""
    repo = tmp_path / "repo"
    for i in range(4):  # data in the point, in several chunks
        lab.guest_write("lab-odd", offset=(2 + 15 * i) * MIB, length=MIB, seed=10 + i)
    assert not run_module("vadp.vsphere.vm_backup", {"name": "lab-odd", "repository": str(repo)}).get("failed")
    point = _sha(lab, "lab-odd")
    for i in range(6):
        lab.guest_write("lab-odd", offset=(4 + 9 * i) * MIB, length=2 * MIB, seed=20 + i)
    wait(odd_vm.PowerOffVM_Task())
    return repo, point


def test_a_missing_chunk_is_found_before_anything_is_written(backed_up, lab):
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
    repo, _point = backed_up
    store = Repository(str(repo))
    [manifest] = store.points.list()
    index = store.points.read_index(manifest, manifest["disks"][0])
    last = [e for e in index.entries if e][-1]
    os.remove(store.storage.path(store.chunks.key(last)))  # the last chunk the restore would need
    before = _sha(lab, "lab-odd")
    result = _restore("lab-odd", repository=str(repo))
    assert result["failed"] and result["error_code"] == "CHUNK_CORRUPT" and "nothing was written" in result["msg"]
    assert result["changed"] is False and _sha(lab, "lab-odd") == before
    quick = run_module("vadp.vsphere.restore_point_info", {"repository": str(repo), "vm": "lab-odd",
                                                           "restore_point": "latest", "verify": "quick"})
    assert quick["verified_ok"] is False and "missing" in quick["problems"][0]["problem"]


def test_a_failure_after_the_first_write_reports_a_changed_partially_restored_disk(backed_up, lab, tmp_path):
    repo, point = backed_up
    state = str(tmp_path / "state")
    failed = _restore("lab-odd", repository=str(repo), state_dir=state, env={"VDDK_DOUBLE_FAIL_WRITE": "3"})
    assert failed["failed"] and failed["error_code"] == "TRANSFER_FAILED"
    assert failed["changed"] is True and "PARTIALLY RESTORED" in failed["msg"]
    [disk] = failed["disks_partially_restored"]
    assert disk["bytes_written"] > 0 and disk["target_file"].endswith("lab-odd.vmdk")
    resumed = _restore("lab-odd", repository=str(repo), state_dir=state)
    assert not resumed.get("failed"), resumed
    assert resumed["changed"] is True and _sha(lab, "lab-odd") == point  # the re-run completes it exactly


def _file(path, size, writes=()):
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in writes:
            f.seek(offset)
            f.write(data)
    return str(path)


def _digest(data_path, size):
    digest = hashlib.sha256()
    with open(data_path, "rb") as f:
        digest.update(f.read())
    digest.update(bytes(size - os.path.getsize(data_path)))
    return digest.hexdigest()


def test_a_raw_image_shorter_than_the_disk_is_refused_unless_told_what_the_rest_holds(odd_vm, lab, tmp_path):
    wait(odd_vm.PowerOffVM_Task())
    capacity = lab.inspect("lab-odd")["disks"][0]["capacity"]
    before = _sha(lab, "lab-odd")
    image = _file(tmp_path / "short.raw", MIB, [(0, os.urandom(MIB))])
    refused = _restore("lab-odd", raw_images={"scsi0:0": image})
    assert refused["failed"] and refused["error_code"] == "SOURCE_TOO_SMALL" and "short_source" in refused["msg"]
    assert _sha(lab, "lab-odd") == before
    zeroed = _restore("lab-odd", raw_images={"scsi0:0": image}, short_source="zero_rest")
    assert not zeroed.get("failed"), zeroed
    assert _sha(lab, "lab-odd") == _digest(image, capacity)  # the image, then zeros to the end
    # keep_rest writes the image and leaves the rest as the disk holds it
    other = _file(tmp_path / "other.raw", MIB, [(0, os.urandom(MIB))])
    flat = lab.disk_file("lab-odd", zeroed["disks"][0]["target_file"]).replace(".vmdk", "-flat.vmdk")
    kept = _restore("lab-odd", raw_images={"scsi0:0": other}, short_source="keep_rest")
    assert not kept.get("failed"), kept
    with open(flat, "rb") as f, open(other, "rb") as o:
        assert f.read(MIB) == o.read()


def test_unaligned_sources_are_refused_never_shifted(odd_vm, lab, tmp_path):
    wait(odd_vm.PowerOffVM_Task())
    before = _sha(lab, "lab-odd")
    capacity = lab.inspect("lab-odd")["disks"][0]["capacity"]
    odd_size = _file(tmp_path / "odd.raw", capacity - 100)
    result = _restore("lab-odd", raw_images={"scsi0:0": odd_size}, short_source="zero_rest")
    assert result["failed"] and result["error_code"] == "SOURCE_UNALIGNED" and "512-byte sectors" in result["msg"]
    _file(tmp_path / "full.raw", capacity)
    (tmp_path / "inc.bin").write_bytes(b"x" * 512)
    (tmp_path / "chain.json").write_text(json.dumps({"capacity": capacity, "full": "full.raw", "incrementals": [
        {"data": "inc.bin", "layout": "packed", "extents": [[1000, 512]]}]}))
    result = _restore("lab-odd", chains={"scsi0:0": str(tmp_path / "chain.json")})
    assert result["failed"] and result["error_code"] == "SOURCE_UNALIGNED"
    assert "incremental 1" in result["msg"] and "byte 1000" in result["msg"]
    assert _sha(lab, "lab-odd") == before


def test_a_fresh_restore_keeps_the_target_disk_s_own_descriptor_facts(odd_vm, lab, si, tmp_path):
    """The point's disk was thin; the new disk is thick: its descriptor must keep saying so."""
    repo = tmp_path / "repo"
    lab.guest_write("lab-odd", offset=MIB, length=3 * MIB, seed=31)
    assert not run_module("vadp.vsphere.vm_backup", {"name": "lab-odd", "repository": str(repo)}).get("failed")
    point = _sha(lab, "lab-odd")
    thick = create_vm(si, "lab-thick", [ODD_MIB], thin=False)
    try:
        trace = str(tmp_path / "trace.jsonl")
        result = _restore("lab-thick", repository=str(repo), source_vm="lab-odd", mode="fresh",
                          env={"VDDK_DOUBLE_TRACE": trace})
        assert not result.get("failed"), result
        assert _sha(lab, "lab-thick") == point
        [events] = list(read_vddk_trace(trace).values())
        calls = [e["call"] for e in events]
        # VDDK's restore order: the saved metadata first, then the data, each sector once
        assert "metadata" in calls and "write" in calls and calls.index("write") > max(
            i for i, c in enumerate(calls) if c == "metadata"), calls
        total, distinct = sectors_written(events)
        assert total == distinct and total * 512 == result["disks"][0]["bytes_written"]
        disk = [d for d in thick.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0]
        with open(lab.disk_file("lab-thick", disk.backing.fileName)) as f:
            descriptor = f.read()
        assert "ddb.uuid" in descriptor and 'ddb.thinProvisioned = "1"' not in descriptor
    finally:
        destroy_vm(thick)


def test_a_killed_hotadd_restore_leaves_disks_the_next_run_releases(backed_up, odd_vm, lab, tmp_path):
    """VDDK's lifecycle: a HotAdd worker killed mid-transfer leaves the target's disk attached to
    the proxy; the next run calls VixDiskLib_Cleanup first, which releases it, then completes."""
    repo, point = backed_up
    state = str(tmp_path / "state")
    killed = _restore("lab-odd", repository=str(repo), transport="hotadd", state_dir=state,
                      env={"VDDK_DOUBLE_CRASH_AFTER_WRITES": "2"})
    assert killed["failed"] and killed["error_code"] == "TRANSFER_FAILED" and "SIGKILL" in killed["msg"]
    assert killed["changed"] is True and "PARTIALLY RESTORED" in killed["msg"]
    leaf = [d for d in odd_vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0].backing.fileName
    assert lab.control("/hotadd")["attached"] == {odd_vm._moId: [leaf]}  # left on the proxy
    again = _restore("lab-odd", repository=str(repo), transport="hotadd", state_dir=state)
    assert not again.get("failed"), again
    assert again["transfer"]["vddk_cleanup"] == {"cleaned": 1, "remaining": 0}
    assert any("VixDiskLib_Cleanup" in w for w in again.get("warnings", []))
    assert lab.control("/hotadd")["attached"] == {} and _sha(lab, "lab-odd") == point
