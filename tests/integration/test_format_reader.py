"""The restore point format read by a stranger: tests/support/independent_reader.py, written from
docs/restore-point-format.md alone, reads the points the collection makes against the lab (plain,
passphrase and raw-key repositories; 4 MiB, 1 MiB and 64 KiB chunks; a disk whose capacity is no
multiple of any of them and one smaller than a chunk) to the lab's own bytes, and judges every
kind of damage as the collection's deep verify does: the same points, disks and offsets, and
never a damaged point read as sound."""
import hashlib
import json
import os
import shutil
import struct

import pytest
import zstandard

from conftest import create_vm, destroy_vm, destroy_vms, run_module, wait
from independent_reader import Damaged, Reader

VM, KIB, MIB = "lab-format-reader", 1 << 10, 1 << 20
DISKS_KIB = [3 * 1024 + 20, 40]  # 3 MiB + 20 KiB, and 40 KiB: less than the smallest chunk
# repository kind: chunk size, the key file's text (None: not encrypted)
KINDS = {
    "plain": (4 * MIB, None),
    "passphrase": (MIB, "  a passphrase, spaces kept, every line break at its end dropped \r\n\n"),
    "raw key": (64 * KIB, "\t" + "A1b2" * 16 + " \n"),  # hex digits in either case, white space around them
}


@pytest.fixture(scope="module")
def made(module_si, lab, tmp_path_factory):
    """Per kind: (repository, key file, {point id: {disk key: SHA-256 of the VM's disk when it was made}})."""
    folder = tmp_path_factory.mktemp("format-reader")
    destroy_vms(module_si, VM)
    machine = create_vm(module_si, VM, [k / 1024 for k in DISKS_KIB])
    assert run_module("vadp.vsphere.vm_cbt", {"name": VM, "state": "enabled"}).get("failed") is not True
    wait(machine.PowerOnVM_Task())
    keys = [d["key"] for d in lab.inspect(VM)["disks"]]
    made = {}
    for number, (kind, (chunk_size, key_text)) in enumerate(KINDS.items()):
        repository, key = str(folder / kind.replace(" ", "-")), None
        if key_text:
            key = str(folder / ("%s.key" % kind.replace(" ", "-")))
            with open(key, "w") as f:
                f.write(key_text)
            os.chmod(key, 0o644 if kind == "passphrase" else 0o600)  # one readable by everyone, one as it should be
        points = {}
        for seed in (10 * number + 1, 10 * number + 2):  # a full, then an incremental
            lab.guest_write(VM, offset=(seed % 3) * MIB + 4096, length=700 * KIB, seed=seed, device_key=keys[0])
            lab.guest_write(VM, offset=0, length=40 * KIB, seed=seed, device_key=keys[1])  # all random: stored raw
            result = run_module("vadp.vsphere.vm_backup", dict(name=VM, repository=repository, chunk_size=chunk_size,
                                                               encryption_key_file=key))
            assert result.get("point_id") and result["type"] == ("incremental" if points else "full"), result
            exposed = [w for w in result.get("warnings", []) if "can be read or written by other users" in w]
            assert len(exposed) == (kind == "passphrase") and all("chmod 600 %s" % key in w for w in exposed)
            points[result["point_id"]] = {str(d["key"]): d["sha256"] for d in lab.inspect(VM)["disks"]}
        made[kind] = (repository, key, points)
    yield made
    destroy_vm(machine)


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_reader_gets_every_disk_of_every_point_exactly(made, kind, tmp_path):
    repository, key, points = made[kind]
    reader = Reader(repository, key)
    assert sorted(p for _vm, p in reader.points()) == sorted(points)
    assert reader.verify(deep=True) == []
    for vm, point in reader.points():
        manifest = reader.manifest(vm, point)
        assert [d["capacity_bytes"] for d in manifest["disks"]] == [k * KIB for k in DISKS_KIB]
        for disk in manifest["disks"]:
            image = str(tmp_path / ("%s-%s" % (point, disk["key"])))
            assert reader.image(vm, point, disk["key"], image) == points[point][str(disk["key"])]
            assert os.path.getsize(image) == disk["capacity_bytes"]
    if key:  # one character more in the key file is another key
        other = tmp_path / "other.key"
        other.write_text(open(key).read().strip() + "0")
        with pytest.raises(Damaged, match="wrong key|64 hexadecimal"):
            Reader(repository, str(other))


def _chunk(reader, compressed):
    """A chunk of the newest point, stored compressed or not, as asked."""
    vm, point = _newest(reader)
    entries = [e for disk in reader.manifest(vm, point)["disks"] for e in reader.index(vm, point, disk)[1]]
    found = []
    for name in filter(None, entries):
        with open(reader.chunk_path(name), "rb") as f:
            if f.read(9)[8] == compressed:
                found.append(name)
    assert found, "no chunk stored %s" % ("compressed" if compressed else "raw")
    return found[0]


def _patch(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _payload_replaced(reader, name):
    """Another chunk's data under this name, with a stored checksum that fits it: only the hash
    of the plain data against the name tells."""
    other = zstandard.ZstdCompressor().compress(b"not the data this name promises" * 100)
    header = struct.pack("<8sB3sI32s", b"VADPCHK1", 1, bytes(3), 3100, hashlib.sha256(other).digest())
    with open(reader.chunk_path(name), "wb") as f:
        f.write(header + other)


def _newest(reader):
    return max(reader.points(), key=lambda vp: vp[1])


def _oldest(reader):
    return min(reader.points(), key=lambda vp: vp[1])


def _point_file(reader, vm_point, name):
    return os.path.join(reader.root, "vms", vm_point[0], "points", vm_point[1], name)


def _index_resized(reader):
    """The newest point's first index, for a disk 512 bytes smaller, its checksum recomputed."""
    vm, point = _newest(reader)
    disk = reader.manifest(vm, point)["disks"][0]
    path = _point_file(reader, (vm, point), disk["index"])
    with open(path, "rb") as f:
        data = bytearray(f.read()[:-32])
    struct.pack_into("<Q", data, 16, disk["capacity_bytes"] - 512)
    with open(path, "wb") as f:
        f.write(bytes(data) + hashlib.sha256(data).digest())


def _manifest_changed(reader, **changes):
    path = _point_file(reader, _newest(reader), "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    with open(path, "w") as f:
        json.dump(dict(manifest, **changes), f)


DAMAGE = {
    "a manifest copied over another point's": lambda r: shutil.copy(_point_file(r, _oldest(r), "manifest.json"),
                                                                    _point_file(r, _newest(r), "manifest.json")),
    "a point folder copied under another VM": lambda r: shutil.copytree(
        os.path.dirname(_point_file(r, _oldest(r), "x")),
        os.path.join(r.root, "vms", "5003c1c4-0000-4000-8000-00000000beef", "points", _oldest(r)[1])),
    "a manifest of an unknown version": lambda r: _manifest_changed(r, version=99),
    "a header saying zstd over raw data": lambda r: _patch(r.chunk_path(_chunk(r, 0)), 8, b"\x01"),
    "a header saying raw over zstd data": lambda r: _patch(r.chunk_path(_chunk(r, 1)), 8, b"\x00"),
    "a reserved byte set": lambda r: _patch(r.chunk_path(_chunk(r, 1)), 10, b"\x01"),
    "a wrong plain length": lambda r: _patch(r.chunk_path(_chunk(r, 1)), 12, struct.pack("<I", 4096)),
    "a payload byte changed": lambda r: _patch(r.chunk_path(_chunk(r, 0)), 100, b"\xff\x00\xff"),
    "a payload replaced, checksum and all": lambda r: _payload_replaced(r, _chunk(r, 1)),
    "a chunk missing": lambda r: os.remove(r.chunk_path(_chunk(r, 0))),
    "an index truncated": lambda r: os.truncate(_point_file(r, _newest(r), r.manifest(*_newest(r))["disks"][0]["index"]), 100),
    "an index for another capacity, checksum and all": _index_resized,
}


def _verdicts(repository, key, deep=True):
    """(the collection's, the reader's) problems, each as a set of (point, disk, offset)."""
    answer = run_module("vadp.vsphere.restore_point_info", dict(repository=repository, encryption_key_file=key,
                                                                verify="deep" if deep else "quick"))
    assert "problems" in answer, answer
    ours = {(p["point"], None if p["disk"] is None else str(p["disk"]), p["offset"]) for p in answer["problems"]}
    theirs = {(p["point"], None if p["disk"] is None else str(p["disk"]), p["offset"])
              for p in Reader(repository, key).verify(deep=deep)}
    return ours, theirs


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_the_reader_and_the_collection_find_the_same_damage(made, damage, tmp_path):
    source, key, _points = made["plain"]
    repository = str(tmp_path / "copy")
    shutil.copytree(source, repository)
    DAMAGE[damage](Reader(repository))
    ours, theirs = _verdicts(repository, key)
    assert ours and ours == theirs
    if damage == "a chunk missing":  # quick verify promises this much, on both sides
        assert _verdicts(repository, key, deep=False) == (ours, theirs)


@pytest.mark.parametrize("damage", ["a manifest copied over another point's", "a payload byte changed",
                                    "a point folder copied under another VM"])
def test_an_encrypted_repository_is_judged_alike(made, damage, tmp_path):
    source, key, _points = made["passphrase"]
    repository = str(tmp_path / "copy")
    shutil.copytree(source, repository)
    DAMAGE[damage](Reader(repository, key))
    ours, theirs = _verdicts(repository, key)
    assert ours and ours == theirs
