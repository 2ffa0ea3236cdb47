"""vm_backup and restore_point_info through ansible-playbook against the lab: every point, read
back through the repository, equals the disk as lab inspect saw it at backup time."""
import os
import subprocess
import threading

import pytest

from conftest import (
    VddkHold,
    create_vm,
    destroy_vm,
    find_vm_by_name,
    image_sha,
    mount_small_filesystem,
    remount,
    run_module,
    wait,
    wait_for,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._files import read_json
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

VM = "DC0_C0_RP0_VM1"
MIB = 1 << 20


def backup(repo, vm=VM, env=None, **args):
    return run_module("vadp.vsphere.vm_backup", dict(name=vm, repository=str(repo), **args), env=env)


def info(repo, **args):
    return run_module("vadp.vsphere.restore_point_info", dict(repository=str(repo), **args))


@pytest.fixture
def vm(si, lab):
    [machine] = find_vm_by_name(si, VM)
    run_module("vadp.vsphere.vm_cbt", {"name": VM, "state": "enabled"})
    yield machine
    lab.control("/faults", {"cbt_page_extents": 0})
    run_module("vadp.vsphere.vm_cbt", {"name": VM, "state": "disabled"})


def test_full_then_incremental_each_point_is_the_disk_as_it_was(vm, lab, tmp_path):
    repo = tmp_path / "repo"
    before = lab.inspect(VM)["disks"][0]["sha256"]
    full = backup(repo)
    assert not full.get("failed"), full
    assert full["type"] == "full" and full["parent"] is None and full["new_chunks"] > 0
    writes = [(100 * MIB, 65536), (100 * MIB + 512 * 1024, 4096), (150 * MIB + 12345 * 512, 8192)]
    seed = int.from_bytes(os.urandom(4), "big")  # new data even where an earlier run in this lab wrote
    for i, (offset, length) in enumerate(writes):
        lab.guest_write(VM, offset=offset, length=length, seed=seed + i)
    after = lab.inspect(VM)["disks"][0]["sha256"]
    incremental = backup(repo)
    assert incremental["type"] == "incremental" and incremental["parent"] == full["point_id"]
    chunk = Repository(str(repo)).chunk_size
    touched = {n for o, length in writes for n in range(o // chunk, (o + length - 1) // chunk + 1)}
    assert incremental["disks"][0]["stats"]["chunks_read"] == len(touched) == incremental["new_chunks"]
    assert image_sha(str(repo), full["point_id"]) == before
    assert image_sha(str(repo), incremental["point_id"]) == after
    assert vm.snapshot is None  # the backup's snapshot is gone

    listed = info(repo, vm=VM)
    assert [p["id"] for p in listed["points"]] == [full["point_id"], incremental["point_id"]]
    shown = info(repo, vm=VM, restore_point="latest")
    assert shown["point"]["id"] == incremental["point_id"] and shown["point"]["disks"][0]["change_id"]


def test_an_incremental_with_paged_answers_captures_every_write(vm, lab, tmp_path):
    repo = tmp_path / "repo"
    backup(repo)
    lab.control("/faults", {"cbt_page_extents": 1})
    for i in range(5):
        lab.guest_write(VM, offset=(20 + 40 * i) * MIB, length=65536, seed=200 + i)
    after = lab.inspect(VM)["disks"][0]["sha256"]
    incremental = backup(repo)
    assert incremental["type"] == "incremental" and incremental["disks"][0]["stats"]["chunks_read"] == 5
    assert image_sha(str(repo), incremental["point_id"]) == after


def test_after_a_cbt_reset_the_backup_is_a_full_and_says_why(vm, lab, tmp_path):
    repo = tmp_path / "repo"
    backup(repo)
    run_module("vadp.vsphere.vm_cbt", {"name": VM, "state": "reset"})
    again = backup(repo, type="incremental")
    assert again["type"] == "full" and "no longer valid" in list(again["fallback_reasons"].values())[0]
    assert again["reused_chunks"] > 0 and again["new_chunks"] == 0  # nothing changed: every chunk was stored


def test_verify_names_point_disk_and_offset(vm, lab, tmp_path):
    repo = tmp_path / "repo"
    point = backup(repo)["point_id"]
    assert info(repo, vm=VM, verify="deep")["verified_ok"] is True
    store = Repository(str(repo))
    [manifest] = store.points.list()
    index = store.points.read_index(manifest, manifest["disks"][0])
    chunks = [(i, e) for i, e in enumerate(index.entries) if e]
    (flip_at, flip), (gone_at, gone) = chunks[0], chunks[1]
    with open(store.storage.path(store.chunks.key(flip)), "r+b") as f:
        f.seek(60)
        byte = f.read(1)
        f.seek(60)
        f.write(bytes([byte[0] ^ 1]))
    os.remove(store.storage.path(store.chunks.key(gone)))
    quick = info(repo, vm=VM, verify="quick")
    assert [(p["point"], p["offset"]) for p in quick["problems"]] == [(point, gone_at * store.chunk_size)]
    deep = info(repo, vm=VM, verify="deep")
    assert sorted((p["disk"], p["offset"]) for p in deep["problems"]) == sorted(
        [(manifest["disks"][0]["key"], flip_at * store.chunk_size), (manifest["disks"][0]["key"], gone_at * store.chunk_size)])
    index_file = os.path.join(store.storage.path(store.points.folder(manifest)), manifest["disks"][0]["index"])
    with open(index_file, "r+b") as f:
        f.truncate(100)
    [truncated] = info(repo, vm=VM, verify="quick")["problems"]
    assert "truncated" in truncated["problem"] and truncated["offset"] is None


def test_an_interrupted_backup_leaves_no_point_no_snapshot_and_its_chunks_are_reused(vm, lab, tmp_path):
    repo = tmp_path / "repo"
    failed = backup(repo, env={"VDDK_DOUBLE_DROP_AFTER": "6"})
    assert failed["failed"] and failed["error_code"] == "TRANSFER_FAILED" and "CONNECTION_LOST" in failed["msg"]
    assert vm.snapshot is None and info(repo, vm=VM)["points"] == []
    done = backup(repo)
    assert done["type"] == "full" and done["reused_chunks"] >= 1


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, _dirs, names in os.walk(folder) for name in names)


@pytest.fixture
def small_filesystem(tmp_path):
    mount_point = tmp_path / "small"
    mount_small_filesystem(mount_point)
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_repository_is_reported_as_such_and_leaves_nothing_behind(vm, lab, small_filesystem):
    repo = small_filesystem / "repo"
    for i in range(3):  # 12 MiB that do not compress, in three chunks of their own
        lab.guest_write(VM, offset=(40 + 4 * i) * MIB, length=4 * MIB, seed=300 + i)
    full = backup(repo)
    assert full["failed"] and full["error_code"] == "REPOSITORY_FULL", full
    assert "is full" in full["msg"] and str(repo) in full["msg"]
    assert vm.snapshot is None and info(repo, vm=VM)["points"] == []
    left = files_under(str(repo))
    assert not [f for f in left if ".tmp." in f or not (f == "repository.json" or f.startswith("chunks/"))], left
    assert not os.path.exists(repo / "vms" / vm.config.instanceUuid)  # no empty point folder
    assert info(repo, verify="deep")["verified_ok"]  # what is there is sound: only chunks the next run reuses
    # with room again the same backup goes through, reusing the chunks the failed run stored
    remount(small_filesystem, "size=400m")
    done = backup(repo)
    assert not done.get("failed"), done
    assert done["reused_chunks"] >= 1 and image_sha(str(repo), done["point_id"]) == lab.inspect(VM)["disks"][0]["sha256"]


def test_a_read_only_repository_is_refused_before_the_vm_is_touched(vm, small_filesystem):
    repo = small_filesystem / "repo"
    remount(small_filesystem, "size=400m")
    assert not backup(repo).get("failed")
    remount(small_filesystem, "ro")
    refused = backup(repo)
    assert refused["failed"] and refused["error_code"] == "REPOSITORY_READ_ONLY" and str(repo) in refused["msg"]
    assert vm.snapshot is None and len(info(repo, vm=VM)["points"]) == 1


def test_two_vms_back_up_into_one_repository_at_once(vm, lab, tmp_path):
    repo = tmp_path / "repo"
    run_module("vadp.vsphere.vm_cbt", {"name": "DC0_H0_VM0", "state": "enabled"})
    results = {}
    threads = [threading.Thread(target=lambda name=name: results.update({name: backup(repo, vm=name)}))
               for name in (VM, "DC0_H0_VM0")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_module("vadp.vsphere.vm_cbt", {"name": "DC0_H0_VM0", "state": "disabled"})
    assert all(not r.get("failed") for r in results.values()), results
    checked = info(repo, verify="deep")
    assert len(checked["points"]) == 2 and checked["verified_ok"] is True


@pytest.mark.watches_transfer
def test_a_hosts_disk_limit_holds_the_next_backup_before_its_snapshot_until_a_slot_frees(si, lab, tmp_path):
    """host_disk_limit 1: a backup held inside VDDK has the host's only slot; a second VM's backup
    on the same host waits, says so in its status, takes no snapshot meanwhile, and runs once the
    first ends. Both points verify."""
    repo, waiting_dir = tmp_path / "repo", str(tmp_path / "second")
    first, second = create_vm(si, "slots-first", [16]), create_vm(si, "slots-second", [16])
    try:
        assert first.runtime.host == second.runtime.host
        hold, results = VddkHold(tmp_path, at=2), {}
        running = threading.Thread(target=lambda: results.update(first=backup(repo, vm="slots-first", host_disk_limit=1,
                                                                              env=hold.env)))
        waiting = threading.Thread(target=lambda: results.update(second=backup(
            repo, vm="slots-second", host_disk_limit=1, state_dir=waiting_dir)))
        running.start()
        try:
            hold.wait_until_held()
            waiting.start()
            wait_for(lambda: (read_json(os.path.join(waiting_dir, "status.json")) or {}).get("state") == "waiting", 300,
                     "the second backup waits for a slot")
            status = run_module("vadp.vsphere.transfer_status", {"state_dir": waiting_dir})
            snapshot_meanwhile = second.snapshot
        finally:
            hold.release()
            running.join()
            waiting.join()
        assert status["summary"].startswith("waiting: waiting for 1 of the 1 transfer slots of host"), status
        assert snapshot_meanwhile is None
        assert not results["first"].get("failed") and not results["second"].get("failed"), results
        checked = info(repo, verify="deep")
        assert len(checked["points"]) == 2 and checked["verified_ok"] is True
    finally:
        destroy_vm(first)
        destroy_vm(second)


def test_storage_vmotion_is_refused_whenever_the_backup_snapshot_exists(vm, lab, tmp_path):
    """PrepareForAccess comes before the backup's snapshot and EndAccess after its removal
    (docs/vsphere-rules.md, rule F.2): whenever the snapshot exists, the lab shows RelocateVM_Task disabled."""
    import time
    lab.control("/faults", {"tasks": [{"method": "CreateSnapshot_Task", "delay_seconds": 2, "times": 1},
                                      {"method": "RemoveSnapshot_Task", "delay_seconds": 2, "times": 1}]})
    seen, done = [], threading.Event()

    def watch():
        while not done.is_set():
            seen.append((vm.snapshot is not None, "RelocateVM_Task" in (vm.disabledMethod or [])))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = backup(tmp_path / "repo")
    finally:
        done.set()
        watcher.join()
        lab.control("/faults", {"tasks": []})
    assert not result.get("failed"), result
    with_snapshot = [disabled for has_snapshot, disabled in seen if has_snapshot]
    assert with_snapshot and all(with_snapshot), seen
    assert (False, True) in seen  # disabled while no snapshot exists yet (or any more)
    assert "RelocateVM_Task" not in (vm.disabledMethod or [])


def test_check_mode_writes_nothing(vm, tmp_path):
    new = tmp_path / "new-repo"
    result = run_module("vadp.vsphere.vm_backup", {"name": VM, "repository": str(new)}, check_mode=True)
    assert not result.get("failed"), result
    assert result["type"] == "full" and not new.exists()  # no repository.json, no chunks/
    assert vm.snapshot is None


def test_a_snapshot_left_after_a_stored_point_is_reported_and_removed_next_time(vm, lab, tmp_path):
    repo = tmp_path / "repo"
    lab.control("/faults", {"tasks": [{"method": "RemoveSnapshot_Task", "fault": "FileLocked",
                                       "message": "the snapshot file is locked", "times": 1}]})
    try:
        left = backup(repo)
    finally:
        lab.control("/faults", {"tasks": []})
    assert left["failed"] and left["error_code"] == "BACKUP_SNAPSHOT_LEFT" and left["changed"] is True
    assert left["point_id"] in left["msg"] and left["leftover_snapshot"]["name"] == "vadp-backup-" + left["point_id"]
    assert image_sha(str(repo), left["point_id"])  # the point is complete and readable
    assert [n.name for n in vm.snapshot.rootSnapshotList] == [left["leftover_snapshot"]["name"]]
    following = backup(repo)
    assert not following.get("failed"), following
    assert [s["name"] for s in following["leftover_snapshots_removed"]] == [left["leftover_snapshot"]["name"]]
    assert vm.snapshot is None


def test_a_backup_while_a_restore_moves_the_same_vm_is_refused(vm, tmp_path):
    """The restore and the backup keep different state folders; the per-VM lock still meets."""
    from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.mover import DataMover
    restoring = DataMover(str(tmp_path / "restore-state"), vm_key=vm.config.instanceUuid)  # what a running restore holds
    try:
        refused = backup(tmp_path / "repo")
    finally:
        restoring.close()
    assert refused["failed"] and refused["error_code"] == "TRANSFER_BUSY" and vm.config.instanceUuid in refused["msg"]
    assert vm.snapshot is None


@pytest.mark.watches_transfer
def test_a_refused_second_backup_leaves_the_running_ones_snapshot_and_point(vm, lab, si, tmp_path):
    """A second backup of a VM whose backup is reading finds that backup's vadp-backup snapshot: it
    is not a leftover while the first holds the VM's lock, so the second is refused and removes
    nothing, and the first stores the disk as it was at its snapshot."""
    repo, hold = tmp_path / "repo", VddkHold(tmp_path, at=2)
    lab.guest_write(VM, offset=2 * MIB, length=4 * MIB, seed=91)
    at_snapshot = lab.inspect(VM)["disks"][0]["sha256"]
    results = {}
    running = threading.Thread(target=lambda: results.update(first=backup(repo, env=hold.env)))
    running.start()
    try:
        hold.wait_until_held()
        [snapshot] = [s.name for s in vm.snapshot.rootSnapshotList]
        second = backup(tmp_path / "repo-2", state_dir=str(tmp_path / "second"))
        still = [s.name for s in vm.snapshot.rootSnapshotList]
        lab.guest_write(VM, offset=2 * MIB, length=MIB, seed=92)  # the guest goes on writing meanwhile
    finally:
        hold.release()
        running.join()
    assert second["failed"] and second["error_code"] == "TRANSFER_BUSY", second
    assert snapshot.startswith("vadp-backup-") and still == [snapshot]
    assert not results["first"].get("failed"), results["first"]
    assert image_sha(str(repo), results["first"]["point_id"]) == at_snapshot and vm.snapshot is None


@pytest.mark.watches_transfer
def test_a_point_whose_snapshot_was_removed_while_it_was_read_is_not_stored(vm, lab, tmp_path):
    repo, hold = tmp_path / "repo", VddkHold(tmp_path, at=2)
    results = {}
    running = threading.Thread(target=lambda: results.update(first=backup(repo, env=hold.env)))
    running.start()
    try:
        hold.wait_until_held()
        node = vm.snapshot.rootSnapshotList[0]
        wait(node.snapshot.RemoveSnapshot_Task(removeChildren=False))  # another tool, or a person, removes it
    finally:
        hold.release()
        running.join()
    lost = results["first"]
    assert lost["failed"] and lost["error_code"] == "BACKUP_SNAPSHOT_LOST", lost
    assert not os.path.isdir(repo / "vms") or not [p for v in os.listdir(repo / "vms") for p in os.listdir(repo / "vms" / v / "points")]


def test_a_backup_waits_for_a_prune_no_longer_than_lock_timeout_and_names_it(vm, tmp_path):
    """A backup behind a prune (or a lease left by a host whose clock is ahead) is bounded: after
    lock_timeout it fails with REPOSITORY_BUSY naming the holder, before the VM is touched."""
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import EXCLUSIVE
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
    repo = tmp_path / "repo"
    assert not backup(repo).get("failed")
    with Repository(str(repo)).lease(EXCLUSIVE, "prune of every VM"):
        busy = backup(repo, lock_timeout=1)
    assert busy["error_code"] == "REPOSITORY_BUSY" and "prune of every VM" in busy["msg"], busy
    assert busy["holders"][0]["kind"] == "exclusive" and vm.snapshot is None
    assert len(info(repo, vm=VM)["points"]) == 1


def test_chunks_are_durable_before_the_index_and_the_manifest_that_name_them(vm, tmp_path):
    """The order the file system sees, recorded by strace: the chunks are written without an fsync
    each, one syncfs makes them all durable, and only then are the disk's index and the manifest
    linked into place (docs/restore-point-format.md, "Writing a point")."""
    assert len([d for d in vm.config.hardware.device if d.__class__.__name__.endswith("VirtualDisk")]) == 1
    trace, repo = tmp_path / "trace", tmp_path / "repo"
    result = run_module("vadp.vsphere.vm_backup", dict(name=VM, repository=str(repo)),
                        wrapper=["strace", "-f", "-qq", "-e", "trace=syncfs,linkat,link", "-o", str(trace)])
    assert not result.get("failed") and result["new_chunks"] > 3, result
    events, chunk_names = [], set()
    # each call where it starts: calls of several threads at once are split into an "<unfinished ...>"
    # line that has the arguments and a "<... resumed>" line that has the result
    for line in trace.read_text().splitlines():
        if "syncfs(" in line and "resumed" not in line:
            events.append("sync")
        elif "link" in line and "resumed" not in line and str(repo) in line:
            target = line.split('"')[3]  # linkat(AT_FDCWD, "temporary", AT_FDCWD, "target", 0)
            kind = "chunk" if "/chunks/" in target else "index" if target.endswith(".index") else \
                "manifest" if target.endswith("/manifest.json") else "other"
            events.append(kind)
            if kind == "chunk":
                chunk_names.add(target)  # two threads storing the same data both try; one link wins
    chunks = [i for i, e in enumerate(events) if e == "chunk"]
    [index] = [i for i, e in enumerate(events) if e == "index"]
    [manifest] = [i for i, e in enumerate(events) if e == "manifest"]
    assert len(chunk_names) == result["new_chunks"], events
    assert any(e == "sync" for e in events[chunks[-1]:index]), events
    assert chunks[-1] < index < manifest, events
