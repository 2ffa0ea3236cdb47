"""Encrypted repositories, on real files: no plaintext and no content hash on disk, exact reads
with the key, refusal without it or with another, tampering detected and named."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

import garbage_check
import synthetic_repo as synth
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.prune import PruneJob, PruneOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.crypto import KeyRequiredError, KeyWrongError, TamperedError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import ChunkCorruptError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

PATTERN = b"guest wrote this sentence, which must never be readable in the repository. " * 900  # 68 KiB


def key_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


@pytest.fixture(params=["passphrase", "raw"])
def encrypted(request, tmp_path):
    content = b"correct horse battery staple\n" if request.param == "passphrase" else os.urandom(32).hex().encode() + b"\n"
    key = key_file(tmp_path, "key", content)
    repo = Repository.create(str(tmp_path / "repo"), chunk_size=synth.CHUNK, key_file=key)
    data = [PATTERN[:synth.CHUNK], None, synth.chunk(5)]
    first = synth.add_point(repo, "web01", synth.utc(2026, 7, 1), data)
    second = synth.add_point(repo, "web01", synth.utc(2026, 7, 2), [data[0], synth.chunk(6), None], parent=first)
    return repo, key, {first["id"]: b"".join(d or bytes(synth.CHUNK) for d in data),
                       second["id"]: data[0] + synth.chunk(6) + bytes(synth.CHUNK)}


def every_file(repo):
    for folder, _dirs, names in os.walk(repo.location):
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                yield os.path.relpath(os.path.join(folder, name), repo.location), f.read()


def test_no_file_holds_plaintext_or_a_content_hash_and_the_key_reads_every_point_back(encrypted):
    repo, key, contents = encrypted
    plain_hash = hashlib.sha256(PATTERN[:synth.CHUNK]).hexdigest()
    for name, data in every_file(repo):
        assert b"guest wrote this" not in data and b"web01" not in data, name  # nor the VM's name, nor the config
        assert plain_hash not in name and plain_hash.encode() not in data, name
    assert json.load(open(os.path.join(repo.location, "repository.json")))["encryption"]["cipher"] == "aes-256-gcm"
    reopened = Repository(repo.location, key_file=key)
    for manifest in reopened.points.list():
        assert synth.image(reopened, manifest) == contents[manifest["id"]]
        assert reopened.verify(manifest, deep=True) == []


def test_without_the_key_or_with_another_nothing_is_read(encrypted, tmp_path):
    repo, _key, _contents = encrypted
    with pytest.raises(KeyRequiredError, match="encrypted"):
        Repository(repo.location)
    with pytest.raises(KeyWrongError):
        Repository(repo.location, key_file=key_file(tmp_path, "other", b"another passphrase\n"))
    with pytest.raises(KeyRequiredError, match="empty"):
        Repository(repo.location, key_file=key_file(tmp_path, "empty", b"\n"))


def test_a_key_for_a_repository_that_is_not_encrypted_is_refused(tmp_path):
    plain = synth.repository(tmp_path / "plain")
    with pytest.raises(InvalidSettingsError, match="not encrypted"):
        Repository(plain.location, key_file=key_file(tmp_path, "key", b"secret\n"))


@pytest.mark.parametrize("target", ["chunk", "index", "manifest", "swapped index"])
def test_tampering_is_detected_and_named(encrypted, target):
    repo, key, _contents = encrypted
    first, second = repo.points.list()
    if target == "chunk":
        entry = repo.points.read_index(first, first["disks"][0]).entries[2]
        path = repo.storage.path(repo.chunks.key(entry))
        data = bytearray(open(path, "rb").read())
        data[-1] ^= 1  # the stored checksum is recomputed, as a careful attacker would
        data[16:48] = hashlib.sha256(bytes(data[48:])).digest()
        open(path, "wb").write(bytes(data))
        with pytest.raises(ChunkCorruptError, match="fails authentication"):
            synth.image(Repository(repo.location, key_file=key), first)
        return
    if target == "swapped index":  # a valid index of another point, put in place of this one's
        shutil.copy(repo.storage.path(repo.points.folder(second) + "/disk-2000.index"),
                    repo.storage.path(repo.points.folder(first) + "/disk-2000.index"))
    else:
        path = os.path.join(repo.storage.path(repo.points.folder(first)), "disk-2000.index" if target == "index" else "manifest.json")
        data = bytearray(open(path, "rb").read())
        data[40] ^= 1
        open(path, "wb").write(bytes(data))
    reopened = Repository(repo.location, key_file=key)
    with pytest.raises(TamperedError, match="fails authentication") as caught:
        for manifest in reopened.points.list():
            reopened.points.read_index(manifest, manifest["disks"][0])
    assert caught.value.error_code == "TAMPERED" and first["id"] in caught.value.message


def test_prune_and_collection_work_on_an_encrypted_repository(encrypted):
    repo, key, contents = encrypted
    result = PruneJob(PruneOptions(repository=repo.location, keep_last=1, encryption_key_file=key)).run()
    assert result["points_removed"] == 1 and result["gc"]["chunks_removed"] == 1  # chunk 5: only the first had it
    reopened = Repository(repo.location, key_file=key)
    [kept] = reopened.points.list()
    assert synth.image(reopened, kept) == contents[kept["id"]]
    assert garbage_check.unreferenced(reopened) == set() and garbage_check.missing(reopened) == set()


def test_a_version_1_repository_is_still_read(tmp_path):
    repo = synth.repository(tmp_path / "repo")
    point = synth.add_point(repo, "web01", synth.utc(2026, 1, 1), [synth.chunk(1)])
    settings = json.load(open(os.path.join(repo.location, "repository.json")))
    assert settings["version"] == 2
    settings["version"] = 1
    with open(os.path.join(repo.location, "repository.json"), "w") as f:
        json.dump(settings, f)
    assert synth.image(Repository(repo.location), point) == synth.chunk(1)


def _read_independently(repo, manifest, key=None):
    """The point's disk as tests/support/independent_reader.py (the format page alone) reads it."""
    reader = os.path.join(os.path.dirname(os.path.abspath(synth.__file__)), "independent_reader.py")
    out = os.path.join(repo.location, "..", "image-%s" % manifest["id"])
    command = [sys.executable, reader, repo.location, manifest["vm"]["instance_uuid"], manifest["id"],
               str(manifest["disks"][0]["key"]), out] + ([key] if key else [])
    printed = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    with open(out, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == printed
    return printed


def test_an_independent_reader_reads_encrypted_and_plain_points(encrypted, tmp_path):
    repo, key, contents = encrypted
    for manifest in Repository(repo.location, key_file=key).points.list():
        assert _read_independently(repo, manifest, key) == hashlib.sha256(contents[manifest["id"]]).hexdigest()
    plain = synth.repository(tmp_path / "plain")
    point = synth.add_point(plain, "web01", synth.utc(2026, 1, 1), [synth.chunk(1), None])
    assert _read_independently(plain, point) == hashlib.sha256(synth.chunk(1) + bytes(synth.CHUNK)).hexdigest()
