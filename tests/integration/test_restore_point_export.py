"""restore_point_export: a point's disk served by nbdkit, read with real NBD clients (nbdcopy,
qemu-io), on a point a lab VM's backup made."""
import contextlib
import hashlib
import os
import socket
import subprocess

import pytest
from pyVim.connect import Disconnect

from conftest import create_vm, destroy_vm, run_module, wait
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

VM = "export-vm"
MIB = 1 << 20


@pytest.fixture(scope="module")
def point(lab, tmp_path_factory):
    """(repository, point id, the disk's SHA-256 at backup time) of a VM with data in three places."""
    work = tmp_path_factory.mktemp("export")
    si = lab.connect()
    machine = create_vm(si, VM, [64])
    try:
        wait(machine.PowerOnVM_Task())
        for i, offset in enumerate((0, 20 * MIB, 61 * MIB)):
            lab.guest_write(VM, offset=offset, length=3 * MIB, seed=900 + i)
        repo = str(work / "repo")
        backup = run_module("vadp.vsphere.vm_backup", {"name": VM, "repository": repo})
        assert not backup.get("failed"), backup
        yield repo, backup["point_id"], lab.inspect(VM)["disks"][0]["sha256"]
    finally:
        destroy_vm(machine)
        Disconnect(si)


@pytest.fixture(scope="module")
def encrypted_point(point, tmp_path_factory):
    """(repository, key file) of an encrypted repository with a point of the same VM, unchanged since."""
    work = tmp_path_factory.mktemp("encrypted")
    key = work / "key"
    key.write_text(os.urandom(32).hex())
    sealed = run_module("vadp.vsphere.vm_backup", {"name": VM, "repository": str(work / "repo"), "encryption_key_file": str(key)})
    assert not sealed.get("failed"), sealed
    return str(work / "repo"), str(key)


def export(repo, exports_dir, check_mode=False, **args):
    return run_module("vadp.vsphere.restore_point_export", dict(repository=repo, exports_dir=str(exports_dir), **args),
                      check_mode=check_mode)


@contextlib.contextmanager
def serving(repo, exports_dir, **args):
    """A started export's record; stopped when the block ends, whatever happened in it."""
    started = export(repo, exports_dir, **args)
    assert not started.get("failed"), started
    try:
        yield started["export"]
    finally:
        export(repo, exports_dir, name=started["export"]["name"], state="stopped")


def nbd_sha(uri):
    copy = subprocess.run(["nbdcopy", uri, "-"], capture_output=True, check=True)
    return hashlib.sha256(copy.stdout).hexdigest()


def qemu_io(uri, command, writable=False):
    return subprocess.run(["qemu-io", "-f", "raw"] + ([] if writable else ["-r"]) + ["-c", command, uri],
                          capture_output=True, text=True, check=False)


def test_nbdcopy_from_an_export_is_the_point_and_a_second_run_changes_nothing(point, tmp_path):
    repo, point_id, expected = point
    path, exports = str(tmp_path / "web.sock"), tmp_path / "exports"
    planned = export(repo, exports, check_mode=True, vm=VM, socket=path)
    assert planned["changed"] and not os.path.exists(path) and planned["exports"] == []
    started = export(repo, exports, vm=VM, socket=path)
    assert started["changed"] and started["export"]["point"] == point_id, started
    assert nbd_sha(started["export"]["uri"]) == expected
    again = export(repo, exports, vm=VM, socket=path)
    assert again["changed"] is False and again["export"]["pid"] == started["export"]["pid"]
    stopped = export(repo, exports, name=started["export"]["name"], state="stopped")
    assert stopped["changed"] and stopped["exports"] == [] and not os.path.exists(path)
    assert export(repo, exports, name=started["export"]["name"], state="stopped")["changed"] is False


def test_an_encrypted_repository_exports_the_same_bytes_with_its_key_and_nothing_without(point, encrypted_point, tmp_path):
    _repo, _point_id, expected = point
    encrypted, key = encrypted_point
    exports = tmp_path / "exports"
    refused = export(encrypted, exports, vm=VM, socket=str(tmp_path / "e.sock"))
    assert refused["failed"] and refused["error_code"] == "KEY_REQUIRED" and not os.path.exists(tmp_path / "e.sock")
    with serving(encrypted, exports, vm=VM, socket=str(tmp_path / "e.sock"), encryption_key_file=key) as record:
        assert nbd_sha(record["uri"]) == expected


def test_two_exports_of_one_point_run_side_by_side_and_stopping_one_leaves_the_other(point, tmp_path):
    repo, point_id, expected = point
    exports = tmp_path / "exports"
    first = export(repo, exports, restore_point=point_id, name="first", socket=str(tmp_path / "1.sock"))["export"]
    second = export(repo, exports, restore_point=point_id, name="second", socket=str(tmp_path / "2.sock"))["export"]
    assert {e["name"] for e in export(repo, exports, restore_point=point_id, name="second",
                                      socket=str(tmp_path / "2.sock"))["exports"]} == {"first", "second"}
    export(repo, exports, name="first", state="stopped")
    assert nbd_sha(second["uri"]) == expected
    taken = export(repo, exports, restore_point=point_id, name="second", socket=str(tmp_path / "3.sock"))
    assert taken["failed"] and taken["error_code"] == "EXPORT_NAME_TAKEN"
    export(repo, exports, name="second", state="stopped")
    assert first["pid"] != second["pid"]


def test_a_damaged_chunk_fails_its_range_with_an_io_error_naming_it_and_other_ranges_read(point, tmp_path):
    repo, point_id, _expected = point
    damaged_repo = str(tmp_path / "repo")
    subprocess.run(["cp", "-a", repo, damaged_repo], check=True)
    store = Repository(damaged_repo)
    [manifest] = [m for m in store.points.list() if m["id"] == point_id]
    index = store.points.read_index(manifest, manifest["disks"][0])
    damaged = index.entries[20 * MIB // store.chunk_size]  # the chunk at 20 MiB
    with open(store.storage.path(store.chunks.key(damaged)), "r+b") as f:
        f.seek(1000)
        f.write(b"\xff" * 16)
    exports = tmp_path / "exports"
    with serving(damaged_repo, exports, restore_point=point_id, socket=str(tmp_path / "d.sock")) as record:
        failed = qemu_io(record["uri"], "read %d 4096" % (20 * MIB))
        assert "Input/output error" in failed.stdout + failed.stderr, failed
        good = qemu_io(record["uri"], "read -P 0 %d 4096" % (40 * MIB))  # zeros where nothing was written
        assert good.returncode == 0 and "read 4096/4096 bytes" in good.stdout, good
        with open(record["log"]) as f:
            assert damaged in f.read()
        with open(store.storage.path(store.chunks.key(damaged)), "rb") as f:
            f.seek(1000)
            assert f.read(16) == b"\xff" * 16  # nothing repaired


def test_copy_on_write_takes_writes_and_the_repository_stays_as_it_was(point, tmp_path):
    repo, point_id, expected = point
    exports = tmp_path / "exports"
    with serving(repo, exports, restore_point=point_id, name="ro", socket=str(tmp_path / "ro.sock")) as read_only, \
            serving(repo, exports, restore_point=point_id, name="cow", socket=str(tmp_path / "cow.sock"),
                    copy_on_write=True) as cow:
        refused = qemu_io(read_only["uri"], "write -P 0xab 0 4096", writable=True)
        assert refused.returncode and "Permission denied" in refused.stderr, refused  # a read-only export
        written = qemu_io(cow["uri"], "write -P 0xab 0 4096", writable=True)
        assert "wrote 4096/4096 bytes" in written.stdout, written
        assert "read 4096/4096 bytes" in qemu_io(cow["uri"], "read -P 0xab 0 4096").stdout
        assert nbd_sha(read_only["uri"]) == expected
    checked = run_module("vadp.vsphere.restore_point_info", {"repository": repo, "verify": "deep"})
    assert checked["verified_ok"] is True


def test_tcp_on_loopback_serves_and_beyond_loopback_needs_tls(point, tmp_path):
    repo, point_id, expected = point
    exports = tmp_path / "exports"
    refused = export(repo, exports, restore_point=point_id, address="0.0.0.0:10809")
    assert refused["failed"] and refused["error_code"] == "TLS_REQUIRED", refused
    assert not exports.exists() or os.listdir(exports) == []
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with serving(repo, exports, restore_point=point_id, address="127.0.0.1:%d" % port) as record:
        assert record["uri"] == "nbd://127.0.0.1:%d" % port and nbd_sha(record["uri"]) == expected


def test_an_export_holds_the_repository_so_a_prune_waits_for_it_and_names_it(point, tmp_path):
    """A prune never removes chunks under a running export: it waits, or fails with REPOSITORY_BUSY
    naming the export; stopped (by its name alone, without the repository), the export gives its
    lease back. An export asked for while a prune holds the repository waits, or fails as clearly,
    and leaves nothing running."""
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import EXCLUSIVE, read_leases
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import LocalStorage
    repo, point_id, expected = point
    exports = tmp_path / "exports"
    with serving(repo, exports, vm=VM, name="held", socket=str(tmp_path / "held.sock")) as record:
        [lease] = read_leases(LocalStorage(repo))[0]
        assert lease["kind"] == "shared" and lease["pid"] == record["pid"] and "export held" in lease["operation"]
        busy = run_module("vadp.vsphere.repository_prune", {"repository": repo, "keep_last": 1, "lock_timeout": 1})
        assert busy["error_code"] == "REPOSITORY_BUSY" and "export held of point %s" % point_id in busy["msg"], busy
        assert nbd_sha(record["uri"]) == expected
        stopped = run_module("vadp.vsphere.restore_point_export", {"name": "held", "state": "stopped",
                                                                   "exports_dir": str(exports)})
        assert stopped["changed"], stopped
    assert os.listdir(os.path.join(repo, "locks")) == []  # given back, not just stale
    assert not run_module("vadp.vsphere.repository_prune", {"repository": repo, "keep_last": 1, "lock_timeout": 1}).get("failed")

    with Repository(repo).lease(EXCLUSIVE, "a prune, for this test"):
        refused = export(repo, exports, vm=VM, name="late", socket=str(tmp_path / "late.sock"), lock_timeout=1)
    assert refused["error_code"] == "REPOSITORY_BUSY" and "a prune, for this test" in refused["msg"], refused
    assert export(repo, exports, name="late", state="stopped")["exports"] == []
    assert os.listdir(os.path.join(repo, "locks")) == []
