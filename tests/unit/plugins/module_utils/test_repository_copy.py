"""repository_copy's choices on synthetic repositories in folders (the lab's tests copy real backups
between a bucket and folders, tests/integration/test_object_storage.py; the crash tests kill copies
at every change): only the newest N, another repository refused, a damaged chunk in the target sent
again, a damaged chunk in the source never sent on, and points gone from the source removed from
the target except the protected ones; an encrypted repository copied without its key; a locked
point locked alike in a hardened target."""
import datetime
import os

import pytest

import synthetic_repo as synth
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.copy import CopyJob, CopyOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._repository import garbage
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import ChunkCorruptError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.immutability import RetentionLock
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository


@pytest.fixture
def source(tmp_path):
    repo = synth.repository(tmp_path / "source")
    points = [synth.add_point(repo, "web01", synth.utc(2026, 11, day), [synth.chunk(1), synth.chunk(day + 10)])
              for day in (1, 2, 3)]
    return repo, points


def copy(repo, target, **options):
    return CopyJob(CopyOptions(repository=repo.location, target=str(target), lock_timeout=0, **options)).run()


def ids(location):
    return [m["id"] for m in Repository(str(location)).points.list()]


def test_the_newest_n_first_then_the_rest_each_chunk_sent_once(source, tmp_path):
    repo, points = source
    first = copy(repo, tmp_path / "target", transfer_last=2)
    assert [p["id"] for p in first["points_copied"]] == [m["id"] for m in points[1:]] and first["chunks_sent"] == 3
    second = copy(repo, tmp_path / "target")
    assert [p["id"] for p in second["points_copied"]] == [points[0]["id"]] and second["chunks_sent"] == 1
    assert not copy(repo, tmp_path / "target")["changed"] and ids(tmp_path / "target") == [m["id"] for m in points]
    copied = Repository(str(tmp_path / "target"))
    assert [synth.image(copied, m) for m in copied.points.list()] == [synth.image(repo, m) for m in points]


def test_a_target_of_another_chunk_size_is_refused_before_anything_is_written(source, tmp_path):
    repo, _points = source
    other = synth.repository(tmp_path / "other", chunk_size=2 * synth.CHUNK)
    with pytest.raises(Exception) as refused:
        copy(repo, other.location)
    assert refused.value.error_code == "REPOSITORY_MISMATCH" and "chunk size" in refused.value.message
    assert ids(other.location) == []


def test_a_damaged_chunk_in_the_target_is_sent_again_and_one_in_the_source_is_never_sent(source, tmp_path):
    repo, points = source
    copy(repo, tmp_path / "target")
    target = Repository(str(tmp_path / "target"))
    damaged = repo.chunks.name(synth.chunk(1))
    with open(target.storage.path(target.chunks.key(damaged)), "r+b") as f:
        f.seek(-1, os.SEEK_END)
        f.write(b"\0")
    assert copy(repo, tmp_path / "target")["chunks_resent"] == 0  # without resync_corrupt, points present are left
    assert copy(repo, tmp_path / "target", resync_corrupt=True)["chunks_resent"] == 1
    assert all(target.verify(m, deep=True) == [] for m in target.points.list())

    newer = synth.add_point(repo, "web01", synth.utc(2026, 11, 4), [synth.chunk(99)])
    with open(repo.storage.path(repo.chunks.key(repo.chunks.name(synth.chunk(99)))), "r+b") as f:
        f.seek(-1, os.SEEK_END)
        f.write(b"\0")
    with pytest.raises(ChunkCorruptError, match=newer["id"]):
        copy(repo, tmp_path / "target")
    assert newer["id"] not in ids(tmp_path / "target") and not target.chunks.has(repo.chunks.name(synth.chunk(99)))


def test_points_gone_from_the_source_leave_the_target_but_a_protected_one_stays(source, tmp_path):
    repo, points = source
    copy(repo, tmp_path / "target")
    target = Repository(str(tmp_path / "target"))
    target.storage.create("%s/protected" % target.points.folder(points[0]), b"")
    for manifest in points[:2]:
        garbage.remove_point(repo, manifest)
    warnings = []
    result = CopyJob(CopyOptions(repository=repo.location, target=str(tmp_path / "target"), remove_vanished=True,
                                 lock_timeout=0), warn=warnings.append).run()
    assert [p["id"] for p in result["points_removed"]] == [points[1]["id"]]
    assert ids(tmp_path / "target") == [points[0]["id"], points[2]["id"]] and "protected" in warnings[0]


@pytest.fixture
def encrypted(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("passphrase of the backup host")
    key_file.chmod(0o600)
    repo = synth.repository(tmp_path / "encrypted", key_file=str(key_file))
    points = [synth.add_point(repo, vm, synth.utc(2026, 11, day), [synth.chunk(1), synth.chunk(day * 10 + len(vm))])
              for day in (1, 2, 3) for vm in ("web01", "db01")]
    return repo, points, str(key_file)


def test_an_encrypted_point_is_copied_without_its_key_and_reads_the_same_with_it(encrypted, tmp_path):
    repo, points, key_file = encrypted
    sealed = CopyOptions(repository=repo.location, target=str(tmp_path / "target"), lock_timeout=0,
                         vm=synth.vm_key_of("web01"), transfer_last=2)
    first = CopyJob(sealed).run()
    web = [m for m in points if m["vm"]["name"] == "web01"]
    assert first["sealed"] and [(p["id"], p["vm"], p["time"]) for p in first["points_copied"]] == [
        (m["id"], m["vm"]["instance_uuid"], m["time"]) for m in web[1:]]
    assert first["chunks_sent"] == 7  # every chunk the target lacked: which ones a point needs is encrypted
    assert not CopyJob(sealed).run()["changed"]
    copied = Repository(str(tmp_path / "target"), key_file)
    assert [m["id"] for m in copied.points.list()] == [m["id"] for m in web[1:]]
    assert [synth.image(copied, m) for m in copied.points.list()] == [synth.image(repo, m) for m in web[1:]]
    assert all(copied.verify(m, deep=True) == [] for m in copied.points.list())
    with pytest.raises(Exception) as refused:
        CopyJob(CopyOptions(repository=repo.location, target=str(tmp_path / "target"), vm="web01")).run()
    assert refused.value.error_code == "POINT_NOT_FOUND" and "instance uuid" in refused.value.message
    with pytest.raises(Exception) as refused:
        CopyJob(CopyOptions(repository=repo.location, target=str(tmp_path / "target"), remove_vanished=True)).run()
    assert refused.value.error_code == "KEY_REQUIRED" and "remove_vanished" in refused.value.message


def test_a_damaged_chunk_is_never_sent_on_by_a_copy_without_the_key(encrypted, tmp_path):
    repo, points, _key_file = encrypted
    name = repo.chunks.name(synth.chunk(1))
    with open(repo.storage.path(repo.chunks.key(name)), "r+b") as f:
        f.seek(-1, os.SEEK_END)
        f.write(b"\0")
    with pytest.raises(ChunkCorruptError, match=name):
        copy(repo, tmp_path / "target")
    assert Repository(str(tmp_path / "target"), sealed=True).points.vm_keys() == []


def test_an_immutable_point_is_locked_in_a_hardened_target_until_the_same_date(unlocked_at_end):
    repo = synth.repository(unlocked_at_end / "source")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    lock = RetentionLock(until=now + datetime.timedelta(days=2), target=now + datetime.timedelta(days=3))
    locked = synth.add_point(repo, "web01", synth.utc(2026, 11, 1), [synth.chunk(1), synth.chunk(2)], lock=lock)
    plain = synth.add_point(repo, "web01", synth.utc(2026, 11, 2), [synth.chunk(1), synth.chunk(3)])
    copy(repo, unlocked_at_end / "target")
    target = Repository(str(unlocked_at_end / "target"))
    folder = target.points.folder(locked)
    assert target.storage.retained_until(folder + "/manifest.json") == lock.until
    assert [target.storage.retained_until(target.chunks.key(repo.chunks.name(synth.chunk(n)))) for n in (1, 2, 3)] == [
        lock.target, lock.target, None]
    assert target.storage.retained_until(target.points.folder(plain) + "/manifest.json") is None
    assert target.storage.retained_until("repository.json") == lock.target
    with pytest.raises(Exception) as refused:
        garbage.remove_point(target, locked)
    assert refused.value.error_code == "POINT_IMMUTABLE"
