"""A repository folder's hardened mode on this machine's real file system (ext4, run as root): a
locked file cannot be changed or deleted, by the collection nor by root's own tools, until its date;
a lock is never shortened; after its date prune and garbage collection delete it; the block a
chunk is locked ahead keeps it past its point; and where the caller lacks CAP_LINUX_IMMUTABLE the
refusal names it."""
import datetime
import json
import os
import subprocess
import sys

import pytest

import synthetic_repo as synth
from ansible_collections.vadp.vsphere.plugins.module_utils._repository import garbage
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import ObjectLockedError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.immutability import RetentionLock
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import LocalStorage

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


def test_a_locked_file_is_kept_whole_until_its_date(unlocked_at_end):
    storage = LocalStorage(str(unlocked_at_end))
    storage.check_object_lock()
    assert storage.create("points/a", b"point", retain_until=NOW + DAY)
    path = storage.path("points/a")
    for attempt in (lambda: os.unlink(path), lambda: open(path, "ab"), lambda: os.rename(path, path + ".x")):
        with pytest.raises(PermissionError):
            attempt()
    assert subprocess.run(["rm", "-f", path], capture_output=True, check=False).returncode != 0  # root's own tools too
    with pytest.raises(ObjectLockedError) as refused:
        storage.delete("points/a")
    assert refused.value.error_code == "POINT_IMMUTABLE" and refused.value.until == NOW + DAY
    storage.retain("points/a", NOW + datetime.timedelta(hours=1))  # never shortened
    assert storage.retained_until("points/a") == NOW + DAY
    storage.retain("points/a", NOW + 2 * DAY)
    assert storage.retained_until("points/a") == NOW + 2 * DAY and storage.read("points/a") == b"point"


def test_a_lock_whose_date_has_passed_is_lifted_by_the_delete(unlocked_at_end):
    storage = LocalStorage(str(unlocked_at_end))
    storage.create("points/old", b"x", retain_until=NOW - datetime.timedelta(seconds=1))
    assert storage.retained_until("points/old") is not None
    with pytest.raises(PermissionError):
        os.unlink(storage.path("points/old"))
    storage.delete_tree("points")
    assert not os.path.exists(storage.path("points"))


def test_chunks_stay_locked_for_their_block_after_their_point_is_removed(unlocked_at_end):
    repo = synth.repository(unlocked_at_end / "repo")
    lock = RetentionLock(until=NOW - datetime.timedelta(seconds=1), target=NOW + DAY)  # the point's date passed
    point = synth.add_point(repo, "web01", synth.utc(2026, 11, 1), [synth.chunk(1), synth.chunk(2)], lock=lock)
    kept = synth.add_point(repo, "web01", synth.utc(2026, 11, 2), [synth.chunk(1), synth.chunk(3)])
    garbage.remove_point(repo, point)  # its own files were locked until its date only
    report = garbage.collect_garbage(repo)
    assert report.chunks_removed == 0 and report.locked_kept == 1 and report.locked_until == (NOW + DAY).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert repo.chunks.has(repo.chunks.name(synth.chunk(2)))  # unreferenced, yet locked: kept
    assert [m["id"] for m in repo.points.list()] == [kept["id"]] and synth.image(repo, kept) == synth.chunk(1) + synth.chunk(3)


def test_without_the_capability_the_refusal_names_it_and_writes_nothing(tmp_path):
    program = ("import json, sys\n"
               "from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import LocalStorage\n"
               "try:\n    LocalStorage(sys.argv[1]).check_object_lock()\n    print(json.dumps(None))\n"
               "except Exception as exc:\n    print(json.dumps([exc.error_code, exc.message]))\n")
    ran = subprocess.run(["setpriv", "--bounding-set", "-linux_immutable", sys.executable, "-c", program,
                          str(tmp_path / "new-repo")], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=garbage.__file__.split("ansible_collections", maxsplit=1)[0]))
    code, message = json.loads(ran.stdout)
    assert code == "IMMUTABILITY_UNAVAILABLE" and "CAP_LINUX_IMMUTABLE" in message, message
    assert os.listdir(tmp_path) == []


def test_a_file_made_immutable_by_other_hands_is_never_lifted(unlocked_at_end):
    storage = LocalStorage(str(unlocked_at_end))
    storage.create("points/theirs", b"x")
    subprocess.run(["chattr", "+i", storage.path("points/theirs")], check=True)
    with pytest.raises(PermissionError, match="not by this collection"):
        storage.delete("points/theirs")
    assert storage.read("points/theirs") == b"x" and "i" in subprocess.run(
        ["lsattr", storage.path("points/theirs")], capture_output=True, text=True, check=True).stdout.split()[0]
