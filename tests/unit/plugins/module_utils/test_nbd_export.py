"""The export core with a real nbdkit and nbdcopy, on a point written through the Repository calls
a backup makes (the module and its lab tests: tests/integration/test_restore_point_export.py)."""
import hashlib
import os
import shutil
import signal
import socket
import subprocess

import pytest

import synthetic_repo as synth
from ansible_collections.vadp.vsphere.plugins.module_utils._export.nbd_export import ExportOptions, NbdExports

pytestmark = pytest.mark.skipif(not shutil.which("nbdkit") or not shutil.which("nbdcopy"),
                                reason="nbdkit and nbdcopy are installed by tests/bootstrap.sh")


@pytest.fixture
def point(tmp_path):
    repo = synth.repository(tmp_path / "repo")
    manifest = synth.add_point(repo, "web01", synth.utc(2026, 12, 1, 22), [synth.chunk(1), None, synth.chunk(2)])
    return repo, manifest, hashlib.sha256(synth.image(repo, manifest)).hexdigest()


def _start(exports, **options):
    options = ExportOptions(**options)
    return exports.start(options, exports.plan(options))


def _copy_sha(uri):
    return hashlib.sha256(subprocess.run(["nbdcopy", uri, "-"], capture_output=True, check=True).stdout).hexdigest()


def test_an_export_whose_nbdkit_was_killed_is_cleaned_when_exports_are_listed(point, tmp_path):
    repo, manifest, expected = point
    exports, path = NbdExports(str(tmp_path / "exports")), str(tmp_path / "web.sock")
    record = _start(exports, repository=repo.location, restore_point=manifest["id"], socket=path)
    assert _copy_sha(record["uri"]) == expected and exports.list() == [record]
    os.kill(record["pid"], signal.SIGKILL)
    subprocess.run(["sh", "-c", "while kill -0 %d 2>/dev/null; do sleep 0.05; done" % record["pid"]], check=True, timeout=60)
    assert exports.list() == [] and os.listdir(exports.folder) == [] and not os.path.exists(path)
    again = _start(exports, repository=repo.location, restore_point=manifest["id"], socket=path)  # the socket path is free
    try:
        assert _copy_sha(again["uri"]) == expected
    finally:
        exports.stop(again)


def test_tcp_with_a_pre_shared_key_serves_only_clients_that_have_it(point, tmp_path):
    repo, manifest, expected = point
    psk = tmp_path / "keys.psk"
    psk.write_text("backup:%s\n" % os.urandom(32).hex())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exports = NbdExports(str(tmp_path / "exports"))
    record = _start(exports, repository=repo.location, restore_point=manifest["id"], address="127.0.0.1:%d" % port,
                    tls_psk_file=str(psk))
    try:
        assert record["uri"] == "nbds://127.0.0.1:%d" % port
        # the PSK file's user goes before the host (libnbd's URI form)
        assert _copy_sha("nbds://backup@127.0.0.1:%d/?tls-psk-file=%s" % (port, psk)) == expected
        wrong = tmp_path / "wrong.psk"
        wrong.write_text("backup:%s\n" % os.urandom(32).hex())
        for uri in ("nbd://127.0.0.1:%d" % port, "nbds://backup@127.0.0.1:%d/?tls-psk-file=%s" % (port, wrong)):
            refused = subprocess.run(["nbdcopy", uri, "-"], capture_output=True, check=False)
            assert refused.returncode != 0 and not refused.stdout, uri  # no TLS or another key: no bytes
    finally:
        exports.stop(record)


@pytest.mark.parametrize("name", ["victim", "..", ".", "../../outside", "a/b", "", "x" * 300])
def test_an_export_name_is_never_a_path(point, tmp_path, name):
    """A name becomes a folder that start replaces and stop removes: one that could lead anywhere
    else is refused before anything is touched (an absolute path once deleted that folder)."""
    from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
    repo, manifest, _digest = point
    exports_dir = tmp_path / "state" / "exports"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("mine")
    given = str(victim) if name == "victim" else name
    with pytest.raises(InvalidSettingsError) as refused:
        _start(NbdExports(str(exports_dir)), repository=repo.location, restore_point=manifest["id"],
               socket=str(tmp_path / "s.sock"), name=given)
    assert refused.value.error_code == "INVALID_ARGUMENT" and "is not a name" in refused.value.message
    assert (victim / "keep").read_text() == "mine" and (tmp_path / "state").is_dir() is False


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:http"])
def test_an_address_whose_port_is_not_a_port_is_refused(point, tmp_path, address):
    """A port beyond 65535 once listened elsewhere while the result said it was there."""
    from ansible_collections.vadp.vsphere.plugins.module_utils._export.nbd_export import ExportError
    repo, manifest, _digest = point
    with pytest.raises(ExportError, match="a port from 1 to 65535"):
        NbdExports(str(tmp_path / "exports")).plan(ExportOptions(repository=repo.location, restore_point=manifest["id"],
                                                                 address=address))


def test_an_export_by_id_is_planned_beside_another_vms_damaged_point_and_refuses_its_own(point, tmp_path):
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointDamagedError
    repo, manifest, _digest = point
    other = synth.add_point(repo, "db01", synth.utc(2026, 12, 1, 23), [synth.chunk(3)])
    with open(os.path.join(repo.storage.path(repo.points.folder(other)), "manifest.json"), "r+b") as f:
        f.truncate(20)
    exports = NbdExports(str(tmp_path / "exports"))
    socket_path = str(tmp_path / "web.sock")
    assert exports.plan(ExportOptions(repository=repo.location, restore_point=manifest["id"], socket=socket_path))["point"] == manifest["id"]
    with pytest.raises(PointDamagedError, match="manifest.json is damaged"):
        exports.plan(ExportOptions(repository=repo.location, restore_point=other["id"], socket=socket_path))
