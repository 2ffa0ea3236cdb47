"""A backup, a prune, a garbage collection and copies (with and without the key) each killed
(SIGKILL) before every one of their changes in turn (tests/support/kill_at.py), in a folder (every file-system change) and in a
bucket of a real S3 server (every request that writes or deletes an object). After every kill:
every visible point verifies deeply and restores its own bytes, no point the policy keeps is lost,
and the same operation run again completes; after a final collection nothing is missing and
nothing is unreferenced."""
import os
import shutil
import subprocess
import sys
import uuid

import pytest

import garbage_check
import synthetic_repo as synth
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

KILL_AT = os.path.join(os.path.dirname(os.path.abspath(synth.__file__)), "kill_at.py")


def run(operation, repo_path, kill_at=0):
    process = subprocess.run([sys.executable, KILL_AT, str(kill_at), operation, repo_path], capture_output=True, check=False,
                             text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    return process.returncode, process.stdout + process.stderr


LAB = os.path.join(os.path.dirname(os.path.abspath(synth.__file__)), "..", "lab")


@pytest.fixture(scope="module")
def bucket(tmp_path_factory):
    """A bucket of the lab's S3 server (tests/lab/object_storage.py), started for these tests alone;
    the AWS_ variables that reach it are set for this process and the ones it starts."""
    sys.path.insert(0, LAB)
    import object_storage
    state = object_storage.start(str(tmp_path_factory.mktemp("s3")), pytest.fail)
    saved = dict(os.environ)
    os.environ.update(object_storage.environment(state))
    yield state["bucket"]
    os.environ.clear()
    os.environ.update(saved)
    object_storage.stop(state)


class Copies:
    """Fresh copies of the base repository: folders, or prefixes of the bucket."""

    def __init__(self, where, tmp_path_factory, request):
        self.bucket = request.getfixturevalue("bucket") if where == "bucket" else None
        self.folder = tmp_path_factory.mktemp("crash-" + where)

    def new(self, name):
        unique = "%s-%s" % (name, uuid.uuid4().hex[:8])
        return "s3://%s/%s" % (self.bucket, unique) if self.bucket else str(self.folder / unique)

    def copy(self, source, name):
        target = self.new(name)
        if not self.bucket:
            shutil.copytree(source, target)
            return target
        import boto3
        client = boto3.session.Session().client("s3")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=source[len("s3://%s/" % self.bucket):] + "/"):
            for o in page.get("Contents", []):
                key = target[len("s3://%s/" % self.bucket):] + o["Key"][o["Key"].index("/"):]
                client.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": o["Key"]})
        return target


@pytest.fixture(scope="module", params=["folder", "bucket"])
def base(tmp_path_factory, request):
    """Five points of web01 (each shares two chunks with the others) and an orphan chunk; and how to copy them."""
    copies = Copies(request.param, tmp_path_factory, request)
    path = copies.new("base")
    repo = synth.repository(path)
    contents = {}
    for day in range(1, 6):
        disk = [synth.chunk(i) if i % 2 == 0 else synth.chunk(100 * day + i) for i in range(4)]
        contents[synth.add_point(repo, "web01", synth.utc(2026, 5, day, 21), disk)["id"]] = b"".join(disk)
    repo.chunks.put(synth.chunk(999))
    return path, contents, copies


def sound(repo_path, contents, key_file=None):
    """Every visible point verifies deeply and is the bytes it was written with."""
    repo = Repository(repo_path, key_file)
    for manifest in repo.points.list():
        assert repo.verify(manifest, deep=True) == [], manifest["id"]
        if manifest["id"] in contents:
            assert synth.image(repo, manifest) == contents[manifest["id"]]
    return [m["id"] for m in repo.points.list()]


def changes_of(operation, base):
    path = base[2].copy(base[0], "count")
    code, out = run(operation, path)
    assert code == 0, out
    return int(out.split("changes ")[-1])


@pytest.mark.slow
@pytest.mark.parametrize("operation", ["backup", "prune", "gc"])
def test_killed_at_every_change_the_repository_stays_sound_and_the_rerun_completes(operation, base):
    path, contents, copies = base
    total = changes_of(operation, base)
    assert total >= 5  # the operation does change things: the loop below kills it at each of them
    newest_two = sorted(contents)[-2:]
    for kill_at in range(1, total + 1):
        repo_path = copies.copy(path, "at-%d" % kill_at)
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
        folder = repo.points.vm_folder(repo.points.list()[0]["vm"]["instance_uuid"])
        assert all(repo.storage.exists("%s/%s/manifest.json" % (folder, name)) for name in repo.storage.children(folder))
        repo.storage.delete_tree("")


@pytest.mark.slow
def test_a_copy_killed_at_every_change_leaves_only_whole_points_and_the_rerun_finishes_it(base):
    path, contents, copies = base
    total = changes_of("copy", base)
    assert total > 20  # 5 points: chunks, indexes and manifests
    # every second request, every third file-system change: each write is the storage's create, which the
    # backup's test above kills at every change; what matters here is a kill between any two of a copy's steps
    for kill_at in range(1, total + 1, 2 if copies.bucket else 3):
        source = copies.copy(path, "copy-at-%d" % kill_at)
        code, out = run("copy", source, kill_at)
        assert code == -9, "kill %d of %d did not happen: %s" % (kill_at, total, out)
        if _is_repository(source + "-copy"):
            sound(source + "-copy", contents)  # every point the target shows is whole
        code, out = run("copy", source)
        assert code == 0, "after a kill at change %d: %s" % (kill_at, out)
        assert sound(source + "-copy", contents) == sound(source, contents)
        code, out = run("gc", source + "-copy")  # what the kill left half-written (a temporary file) goes
        assert code == 0, out
        target = Repository(source + "-copy")
        assert garbage_check.missing(target) == set() and garbage_check.unreferenced(target) == set(), kill_at
        for location in (source, source + "-copy"):
            Repository(location).storage.delete_tree("")


@pytest.mark.slow
def test_a_copy_without_the_key_killed_at_every_change_leaves_only_whole_points(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("the source's passphrase")
    path, contents = str(tmp_path / "encrypted"), {}
    repo = synth.repository(path, key_file=str(key_file))
    for day in range(1, 4):
        disk = [synth.chunk(i) if i % 2 == 0 else synth.chunk(100 * day + i) for i in range(4)]
        contents[synth.add_point(repo, "web01", synth.utc(2026, 5, day, 21), disk)["id"]] = b"".join(disk)
    for _first_and_counted in range(2):  # the first run also makes the source's lease folder
        code, out = run("sealed-copy", path)
        assert code == 0, out
        total = int(out.split("changes ")[-1])
        shutil.rmtree(path + "-copy")
    for kill_at in range(1, total + 1):
        code, out = run("sealed-copy", path, kill_at)
        assert code == -9, "kill %d of %d did not happen: %s" % (kill_at, total, out)
        if _is_repository(path + "-copy"):
            sound(path + "-copy", contents, str(key_file))
        code, out = run("sealed-copy", path)
        assert code == 0, "after a kill at change %d: %s" % (kill_at, out)
        assert sound(path + "-copy", contents, str(key_file)) == sorted(contents)
        shutil.rmtree(path + "-copy")


def _is_repository(location):
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import open_storage
    return open_storage(location).exists("repository.json")
