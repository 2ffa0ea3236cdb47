"""A backup, a prune and a garbage collection each killed (SIGKILL) before every one of their
file-system changes in turn (tests/support/kill_at.py). After every kill: every visible point
verifies deeply and restores its own bytes, no point the policy keeps is lost, and the same
operation run again completes; after a final collection nothing is missing and nothing is
unreferenced."""
import os
import shutil
import subprocess
import sys

import pytest

import garbage_check
import synthetic_repo as synth
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

KILL_AT = os.path.join(os.path.dirname(os.path.abspath(synth.__file__)), "kill_at.py")


def run(operation, repo_path, kill_at=0):
    process = subprocess.run([sys.executable, KILL_AT, str(kill_at), operation, repo_path], capture_output=True, check=False,
                             text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    return process.returncode, process.stdout + process.stderr


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Five points of web01 (each shares two chunks with the others) and an orphan chunk."""
    path = str(tmp_path_factory.mktemp("crash-base") / "repo")
    repo = synth.repository(path)
    contents = {}
    for day in range(1, 6):
        disk = [synth.chunk(i) if i % 2 == 0 else synth.chunk(100 * day + i) for i in range(4)]
        contents[synth.add_point(repo, "web01", synth.utc(2026, 5, day, 21), disk)["id"]] = b"".join(disk)
    repo.chunks.put(synth.chunk(999))
    return path, contents


def sound(repo_path, contents):
    """Every visible point verifies deeply and is the bytes it was written with."""
    repo = Repository(repo_path)
    for manifest in repo.points.list():
        assert repo.verify(manifest, deep=True) == [], manifest["id"]
        if manifest["id"] in contents:
            assert synth.image(repo, manifest) == contents[manifest["id"]]
    return [m["id"] for m in repo.points.list()]


def changes_of(operation, base, tmp_path):
    path = str(tmp_path / "count")
    shutil.copytree(base[0], path)
    code, out = run(operation, path)
    assert code == 0, out
    return int(out.split("changes ")[-1])


@pytest.mark.slow
@pytest.mark.parametrize("operation", ["backup", "prune", "gc"])
def test_killed_at_every_change_the_repository_stays_sound_and_the_rerun_completes(operation, base, tmp_path):
    path, contents = base
    total = changes_of(operation, base, tmp_path)
    assert total > 5  # the operation does change things: the loop below kills it at each of them
    newest_two = sorted(contents)[-2:]
    for kill_at in range(1, total + 1):
        repo_path = str(tmp_path / ("at-%d" % kill_at))
        shutil.copytree(path, repo_path)
        code, out = run(operation, repo_path, kill_at)
        assert code == -9, "kill %d of %d did not happen: %s" % (kill_at, total, out)
        visible = sound(repo_path, contents)
        assert set(newest_two) <= set(visible)  # what every run keeps is never lost
        code, out = run(operation, repo_path)  # the same operation again, at once
        assert code == 0, "after a kill at change %d: %s" % (kill_at, out)
        assert set(newest_two) <= set(sound(repo_path, contents))
        code, out = run("gc", repo_path)
        assert code == 0, out
        repo = Repository(repo_path)
        assert garbage_check.missing(repo) == set() and garbage_check.unreferenced(repo) == set(), kill_at
        folder = repo.storage.path(repo.points.vm_folder(repo.points.list()[0]["vm"]["instance_uuid"]))
        assert all(os.path.exists(os.path.join(folder, name, "manifest.json")) for name in os.listdir(folder))
        shutil.rmtree(repo_path)
