"""Prune, garbage collection, protection and leases on real repositories in temporary folders (no
lab needed: the points are written through the same Repository calls a backup makes)."""
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

import garbage_check
import synthetic_repo as synth
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.point_info import PointInfo, PointInfoOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.prune import PruneJob, PruneOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.restore_point import RestorePointJob, RestorePointOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._repository import locks
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository


@pytest.fixture
def chain(tmp_path):
    """web01: a full and two incrementals a day apart, each changing one chunk; db01: one point
    sharing web01's first chunk."""
    repo = synth.repository(tmp_path / "repo")
    points, disk = [], [synth.chunk(1), synth.chunk(2), None, synth.chunk(3)]
    for day in (1, 2, 3):
        disk = list(disk)
        if day > 1:
            disk[day - 1] = synth.chunk(10 + day)
        points.append((synth.add_point(repo, "web01", synth.utc(2026, 5, day, 21), disk, parent=points[-1][0] if points else None),
                       b"".join(d or bytes(synth.CHUNK) for d in disk)))
    synth.add_point(repo, "db01", synth.utc(2026, 5, 1, 22), [synth.chunk(1)])
    return repo, points


def ids(repo, vm="web01"):
    return [m["id"] for m in repo.points.list() if m["vm"]["name"] == vm]


def test_removing_the_full_and_its_child_leaves_a_point_that_restores_exactly(chain):
    repo, points = chain
    result = PruneJob(PruneOptions(repository=repo.location, vm="web01", keep_last=1)).run()
    assert ids(repo) == [points[2][0]["id"]] and points[2][0]["parent"] == points[1][0]["id"]
    assert synth.image(repo, points[2][0]) == points[2][1]  # its parent and grandparent are gone
    assert result["points_removed"] == 2 and result["gc"]["chunks_removed"] == 1  # chunk 2: the rest live on in the newest
    assert garbage_check.unreferenced(repo) == set() and garbage_check.missing(repo) == set()
    assert len(ids(repo, "db01")) == 1  # another VM's points are not this prune's


def test_check_mode_changes_nothing_and_frees_what_the_real_run_frees(chain, tmp_path):
    repo, points = chain
    before = sorted(os.path.relpath(os.path.join(d, n), repo.location) for d, _s, ns in os.walk(repo.location) for n in ns)
    options = PruneOptions(repository=repo.location, keep_last=1)
    plan = PruneJob(options).run(check_mode=True)
    after = sorted(os.path.relpath(os.path.join(d, n), repo.location) for d, _s, ns in os.walk(repo.location) for n in ns)
    assert after == before
    done = PruneJob(options).run()
    assert plan["vms"] == done["vms"] and plan["gc"] == done["gc"] and plan["gc"]["bytes_freed"] > 0
    assert [p["kept_by"] for p in done["vms"][points[0][0]["vm"]["instance_uuid"]]["kept"]] == [["newest", "last"]]


def test_a_protected_point_survives_prune_and_refuses_deletion(chain):
    repo, points = chain
    first = points[0][0]["id"]
    protect = RestorePointOptions(repository=repo.location, vm="web01", restore_point=first, protected=True)
    assert RestorePointJob(protect).run()["changed"] and not RestorePointJob(protect).run()["changed"]  # idempotent
    PruneJob(PruneOptions(repository=repo.location, vm="web01", keep_last=1)).run()
    assert ids(repo) == [first, points[2][0]["id"]]
    delete = RestorePointOptions(repository=repo.location, vm="web01", restore_point=first, state="absent")
    with pytest.raises(Exception) as refused:
        RestorePointJob(delete).run()
    assert refused.value.error_code == "POINT_PROTECTED" and first in ids(repo)
    RestorePointJob(RestorePointOptions(repository=repo.location, vm="web01", restore_point=first, protected=False)).run()
    assert RestorePointJob(delete).run()["gc"]["chunks_removed"] == 1  # chunk 2: only the first point held it
    assert ids(repo) == [points[2][0]["id"]] and synth.image(repo, points[2][0]) == points[2][1]


def test_garbage_collection_removes_what_crashed_runs_left(chain):
    repo, points = chain
    leftover_chunk = repo.storage.path(repo.chunks.key("ab" * 32)) + ".tmp.123456"
    os.makedirs(os.path.dirname(leftover_chunk), exist_ok=True)
    open(leftover_chunk, "wb").close()
    writer = repo.points.begin(points[0][0]["vm"]["instance_uuid"])  # a backup that died before its manifest
    writer.write_file("disk-2000.index", b"partial")
    orphan, _stored = repo.chunks.put(synth.chunk(99))
    result = PruneJob(PruneOptions(repository=repo.location, keep_last=10)).run()
    assert result["points_removed"] == 0 and result["changed"]
    assert result["gc"]["temporary_files_removed"] == 1 and result["gc"]["chunks_removed"] == 1
    assert len(result["gc"]["unfinished_points_removed"]) == 1 and not os.path.exists(repo.storage.path(writer.folder))
    assert not repo.chunks.has(orphan) and garbage_check.unreferenced(repo) == set()


def _holder(repo_path, kind):
    """Another process holding a lease until its stdin closes; returns once the lease exists.
    (_held: the same for a `with` block.)"""
    code = ("import sys\n"
            "from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository\n"
            "with Repository(%r).lease(%r, 'a test holder'):\n"
            "    print('held', flush=True); sys.stdin.read()\n") % (repo_path, kind)
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert process.stdout.readline().strip() == "held"
    return process


@contextlib.contextmanager
def _held(repo_path, kind):
    holder = _holder(repo_path, kind)
    try:
        yield holder
    finally:
        holder.stdin.close()
        holder.wait()


def test_a_prune_waits_for_a_running_backup_and_names_it(chain):
    repo, points = chain
    with _held(repo.location, locks.SHARED) as holder:
        with pytest.raises(locks.RepositoryBusyError) as busy:
            PruneJob(PruneOptions(repository=repo.location, keep_last=1, lock_timeout=0)).run()
        assert "a test holder" in busy.value.message and busy.value.details["holders"][0]["pid"] == holder.pid
        assert len(ids(repo)) == 3  # nothing removed
        with Repository(repo.location).lease(locks.SHARED, "a second backup", timeout=0):
            pass  # shared leases do not exclude each other
    assert PruneJob(PruneOptions(repository=repo.location, keep_last=1, lock_timeout=0)).run()["points_removed"] == 2


def test_a_backup_waits_while_a_prune_holds_the_repository(chain):
    repo, _points = chain
    with _held(repo.location, locks.EXCLUSIVE):
        with pytest.raises(locks.RepositoryBusyError, match="a test holder"):
            with Repository(repo.location).lease(locks.SHARED, "backup", timeout=0):
                pass


def test_a_waiting_prune_goes_before_backups_that_start_after_it(chain):
    """A prune waiting for a running backup keeps its place: a backup that starts meanwhile waits
    behind it, so a stream of backups cannot starve the prune."""
    repo, _points = chain
    waiting, outcome = threading.Event(), {}

    def prune():
        outcome["result"] = PruneJob(PruneOptions(repository=repo.location, keep_last=1, lock_timeout=600),
                                     warn=lambda message: waiting.set()).run()
    thread = threading.Thread(target=prune)
    with _held(repo.location, locks.SHARED):
        thread.start()
        assert waiting.wait(600)  # the prune found the backup and waits
        with pytest.raises(locks.RepositoryBusyError, match="prune"):
            with Repository(repo.location).lease(locks.SHARED, "a later backup", timeout=0):
                pass
    thread.join()
    assert outcome["result"]["points_removed"] == 2


def test_a_crashed_holders_lease_stops_counting(chain):
    repo, _points = chain
    holder = _holder(repo.location, locks.SHARED)
    holder.kill()  # SIGKILL: its lease file stays behind
    holder.wait()
    [left] = os.listdir(os.path.join(repo.location, "locks"))
    far = os.path.join(repo.location, "locks", "shared-0000.json")  # another host's, not refreshed for too long
    with open(far, "w") as f:
        json.dump({"kind": "shared", "operation": "backup", "host": socket.gethostname() + "-elsewhere", "pid": 1,
                   "created": "2026-01-01T00:00:00Z", "refreshed": "2026-01-01T00:00:00Z", "lease_seconds": 300}, f)
    result = PruneJob(PruneOptions(repository=repo.location, keep_last=1, lock_timeout=0)).run()
    assert len(result["stale_leases_removed"]) == 2 and os.listdir(os.path.join(repo.location, "locks")) == []
    assert left.startswith("shared-")


def test_a_live_lease_of_another_host_counts(chain):
    repo, _points = chain
    os.makedirs(os.path.join(repo.location, "locks"))
    with open(os.path.join(repo.location, "locks", "shared-1111.json"), "w") as f:
        now = locks._stamp(locks._now())
        json.dump({"kind": "shared", "operation": "backup of db01", "host": "awx-node-2", "pid": 1, "created": now,
                   "refreshed": now, "lease_seconds": 300}, f)
    with pytest.raises(locks.RepositoryBusyError, match="backup of db01.*awx-node-2"):
        PruneJob(PruneOptions(repository=repo.location, keep_last=1, lock_timeout=0)).run()


def test_a_lease_dated_ahead_of_this_clock_is_named_as_clock_skew(chain):
    """A holder whose clock is ahead keeps its lease counting long after it is gone: the refusal
    says so, with the time it counts until, instead of leaving the admin to guess."""
    import datetime
    repo, _points = chain
    os.makedirs(os.path.join(repo.location, "locks"))
    ahead = locks._stamp(locks._now() + datetime.timedelta(hours=2))
    with open(os.path.join(repo.location, "locks", "exclusive-2222.json"), "w") as f:
        json.dump({"kind": "exclusive", "operation": "prune", "host": "backup-02", "pid": 1, "created": ahead,
                   "refreshed": ahead, "lease_seconds": 300}, f)
    with pytest.raises(locks.RepositoryBusyError, match="prune.*backup-02.*ahead of this host's clock.*clock skew") as caught:
        with Repository(repo.location).lease(locks.SHARED, "backup of web01", timeout=0):
            pass
    assert ahead in caught.value.message
    now = locks._stamp(locks._now())
    with open(os.path.join(repo.location, "locks", "exclusive-2222.json"), "w") as f:
        json.dump({"kind": "exclusive", "operation": "prune", "host": "backup-02", "pid": 1, "created": now,
                   "refreshed": now, "lease_seconds": 300}, f)
    with pytest.raises(locks.RepositoryBusyError) as caught:
        with Repository(repo.location).lease(locks.SHARED, "backup of web01", timeout=0):
            pass
    assert "clock skew" not in caught.value.message  # a clock that agrees is not blamed


def test_a_lease_removed_as_stale_is_noticed_before_anything_is_committed(chain):
    repo, _points = chain
    with Repository(repo.location).lease(locks.SHARED, "backup") as lease:
        lease.check()
        os.unlink(repo.storage.path(lease.key))  # what another host does to a lease it takes for stale
        with pytest.raises(locks.LeaseLostError):
            lease.check()


def test_a_read_only_repository_can_still_be_restored_from_but_not_pruned(tmp_path):
    mount_point = tmp_path / "ro"
    os.makedirs(mount_point)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], check=False).returncode:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    try:
        repo = synth.repository(mount_point / "repo")
        point = synth.add_point(repo, "web01", synth.utc(2026, 5, 1), [synth.chunk(1)])
        subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)
        with repo.lease(locks.SHARED, "restore") as lease:  # a restore reads on
            assert not lease.recorded and synth.image(repo, point) == synth.chunk(1)
        with pytest.raises(Exception) as refused:
            PruneJob(PruneOptions(repository=repo.location, keep_last=1)).run()
        assert refused.value.error_code == "REPOSITORY_READ_ONLY"
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_space_accounting_says_what_removing_a_point_frees(chain):
    repo, points = chain
    orphan, _stored = repo.chunks.put(synth.chunk(77))  # a chunk no point names
    orphan_size = os.path.getsize(repo.storage.path(repo.chunks.key(orphan)))
    info = PointInfo(PointInfoOptions(repository=repo.location, space=True, verify="deep")).run()
    assert info["verified_ok"] and info["unreferenced_chunks"] == {"count": 1, "names": [orphan]}
    stored = sum(os.path.getsize(os.path.join(d, n)) for d, _s, ns in os.walk(os.path.join(repo.location, "chunks")) for n in ns)
    assert info["repository"]["chunks"] == 5  # chunks 1, 2, 3, 12 and 13
    assert info["repository"]["stored_bytes"] == stored - orphan_size
    assert info["repository"]["dedup_ratio"] == round(13 * synth.CHUNK / (stored - orphan_size), 2)  # 3 points of 4 chunks, 1 of 1
    first = {p["id"]: p for p in info["points"]}[points[0][0]["id"]]
    assert 0 < first["unique_bytes"] < first["referenced_bytes"]  # chunk 2 only: chunks 1 and 3 live on
    deleted = RestorePointJob(RestorePointOptions(repository=repo.location, vm="web01", restore_point=first["id"], state="absent")).run()
    assert deleted["gc"]["bytes_freed"] == first["unique_bytes"] + orphan_size


def test_one_damaged_index_is_one_problem_of_one_point_and_the_others_still_verify(tmp_path):
    """A whole-repository verify lists an unreadable index as its point's problem (with the disk),
    verifies every other point, and leaves the unreferenced-chunk count out rather than fail."""
    repo = synth.repository(tmp_path / "repo")
    good = synth.add_point(repo, "web01", synth.utc(2026, 11, 1), [synth.chunk(1)])
    damaged = synth.add_point(repo, "db01", synth.utc(2026, 11, 2), [synth.chunk(2)])
    with open(os.path.join(repo.storage.path(repo.points.folder(damaged)), damaged["disks"][0]["index"]), "r+b") as f:
        f.truncate(10)
    for depth in ("quick", "deep"):
        info = PointInfo(PointInfoOptions(repository=repo.location, verify=depth)).run()
        assert info["verified_ok"] is False and [p["point"] for p in info["problems"]] == [damaged["id"]]
        assert info["problems"][0]["disk"] == 2000 and "truncated" in info["problems"][0]["problem"]
        assert info["unreferenced_chunks"] is None and {p["id"] for p in info["points"]} == {good["id"], damaged["id"]}


@pytest.mark.parametrize("selector", ["latest", "2026-12-31", "2026-01-01T00:00:01Z"])
def test_a_deletion_takes_a_point_id_never_a_selector(tmp_path, selector):
    """latest or a time selects another point as backups come and go: refused, naming the point
    it selects today, with nothing deleted; an id deleted twice changes nothing the second time."""
    from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
    repo = synth.repository(tmp_path / "repo")
    first = synth.add_point(repo, "web01", synth.utc(2026, 1, 1), [synth.chunk(1)])
    newest = synth.add_point(repo, "web01", synth.utc(2026, 6, 1), [synth.chunk(2)])
    selected = first if selector.startswith("2026-01") else newest
    with pytest.raises(InvalidSettingsError, match="nothing was deleted") as caught:
        RestorePointJob(RestorePointOptions(repository=repo.location, vm="web01", restore_point=selector, state="absent")).run()
    assert "give restore_point: %s" % selected["id"] in caught.value.message
    assert ("the VM's newest point" in caught.value.message) == (selected is newest)
    assert [m["id"] for m in repo.points.list()] == [first["id"], newest["id"]]
    delete = RestorePointOptions(repository=repo.location, vm="web01", restore_point=first["id"], state="absent")
    assert RestorePointJob(delete).run()["changed"]
    again = RestorePointJob(delete).run()
    assert not again["changed"] and again["point"] is None


def test_a_deletion_beside_a_damaged_point_deletes_and_collects_nothing_it_cannot_tell(tmp_path):
    repo = synth.repository(tmp_path / "repo")
    gone = synth.add_point(repo, "web01", synth.utc(2026, 1, 1), [synth.chunk(1)])
    damaged = synth.add_point(repo, "db01", synth.utc(2026, 1, 2), [synth.chunk(2)])
    with open(os.path.join(repo.storage.path(repo.points.folder(damaged)), "manifest.json"), "r+b") as f:
        f.truncate(20)
    warnings = []
    result = RestorePointJob(RestorePointOptions(repository=repo.location, vm="web01", restore_point=gone["id"], state="absent"),
                             warn=warnings.append).run()
    assert result["changed"] and result["gc"] is None and "no chunk was collected" in warnings[0]
    assert repo.chunks.has(repo.chunks.name(synth.chunk(2))) and not os.path.isdir(repo.storage.path(repo.points.folder(gone)))
