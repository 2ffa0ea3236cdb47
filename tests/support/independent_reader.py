"""A reader of restore point repositories written from docs/restore-point-format.md alone, sharing
no code with the collection: the proof that the format is open, and a second opinion on what is
damaged. Every check below is one the page asks of a reader; where the page is silent, this reader
is too. Versions 1 and 2, encrypted or not.

    python independent_reader.py REPOSITORY VMKEY POINT DISKKEY OUT [KEYFILE]
        writes the disk's image to OUT and prints its SHA-256
    python independent_reader.py --verify quick|deep REPOSITORY [KEYFILE]
        prints every point, then each problem as JSON lines; exit code 1 when there is one
"""
import hashlib
import hmac
import json
import os
import re
import struct
import sys

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

VERSIONS = (1, 2)
CHUNK_HEADER = struct.Struct("<8sB3sI32s")  # magic, compression, reserved, plain length, payload checksum
INDEX_HEADER = struct.Struct("<8sQQQ")  # magic, chunk size, capacity, entries
RAW_KEY = re.compile(rb"^\s*([0-9a-fA-F]{64})\s*$")


class Damaged(Exception):
    """What the page calls a damaged point, index or chunk (or a wrong key)."""


def _subkey(master, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(master)


def _master_key(encryption, key_file):
    with open(key_file, "rb") as f:
        data = f.read()
    if encryption["kdf"] == "raw":
        match = RAW_KEY.match(data)
        if not match:
            raise Damaged("the key file does not hold 64 hexadecimal digits")
        master = bytes.fromhex(match.group(1).decode())
    else:
        master = Scrypt(salt=bytes.fromhex(encryption["salt"]), length=32, n=encryption["n"], r=encryption["r"],
                        p=encryption["p"]).derive(data.rstrip(b"\r\n"))
    check = hmac.new(_subkey(master, "vadp check"), b"vadp key check", hashlib.sha256).hexdigest()
    if check != encryption["key_check"]:
        raise Damaged("wrong key")
    return master


class Reader:
    def __init__(self, root, key_file=None):
        self.root = root
        with open(os.path.join(root, "repository.json")) as f:
            self.settings = json.load(f)
        if self.settings.get("format") != "vadp-restore-points" or self.settings.get("version") not in VERSIONS:
            raise Damaged("unknown repository format or version")
        self.chunk_size = self.settings["chunk_size"]
        encryption = self.settings.get("encryption")
        self.master = _master_key(encryption, key_file) if encryption else None

    def _file(self, relative):
        with open(os.path.join(self.root, relative), "rb") as f:
            data = f.read()
        if self.master is None:
            return data
        if data[:8] != b"VADPENC1":
            raise Damaged("%s is not sealed" % relative)
        try:
            return AESGCM(_subkey(self.master, "vadp point files")).decrypt(data[8:20], data[20:], relative.encode())
        except InvalidTag:
            raise Damaged("%s fails authentication" % relative)

    def points(self):
        """(VMKEY, POINT) of every visible point: a folder not starting with a dot, holding a manifest."""
        found = []
        vms = os.path.join(self.root, "vms")
        for vm in sorted(os.listdir(vms)) if os.path.isdir(vms) else []:
            folder = os.path.join(vms, vm, "points")
            for point in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                if not point.startswith(".") and os.path.exists(os.path.join(folder, point, "manifest.json")):
                    found.append((vm, point))
        return found

    def manifest(self, vm, point):
        relative = "vms/%s/points/%s/manifest.json" % (vm, point)
        try:
            manifest = json.loads(self._file(relative).decode("utf-8"))
        except ValueError:
            raise Damaged("%s is not JSON" % relative)
        if manifest.get("format") != "vadp-restore-point" or manifest.get("version") not in VERSIONS:
            raise Damaged("%s: unknown manifest format or version" % relative)
        if manifest.get("id") != point or manifest.get("vm", {}).get("instance_uuid") != vm:
            raise Damaged("%s disagrees with its place" % relative)
        return manifest

    def index(self, vm, point, disk):
        """(capacity, entries) of a disk's index, each entry a chunk name or None for a zero chunk."""
        data = self._file("vms/%s/points/%s/%s" % (vm, point, disk["index"]))
        if len(data) < INDEX_HEADER.size + 32 or hashlib.sha256(data[:-32]).digest() != data[-32:]:
            raise Damaged("index of disk %s: trailing checksum" % disk["key"])
        magic, chunk_size, capacity, count = INDEX_HEADER.unpack_from(data)
        if (magic != b"VADPIDX1" or chunk_size != self.chunk_size or capacity != disk["capacity_bytes"]
                or count != -(-capacity // chunk_size) or len(data) != INDEX_HEADER.size + 32 * count + 32):
            raise Damaged("index of disk %s: header" % disk["key"])
        entries = [data[32 + 32 * i:64 + 32 * i] for i in range(count)]
        return capacity, [None if e == bytes(32) else e.hex() for e in entries]

    def chunk_path(self, name):
        return os.path.join(self.root, "chunks", name[:2], name[2:4], name)

    def chunk(self, name):
        """A chunk's plain data, after every check the page names."""
        try:
            with open(self.chunk_path(name), "rb") as f:
                stored = f.read()
        except FileNotFoundError:
            raise Damaged("chunk %s is missing" % name)
        if len(stored) < CHUNK_HEADER.size:
            raise Damaged("chunk %s: short" % name)
        magic, compression, reserved, plain_length, checksum = CHUNK_HEADER.unpack_from(stored)
        payload = stored[CHUNK_HEADER.size:]
        if magic != b"VADPCHK1" or compression not in (0, 1) or reserved != bytes(3):
            raise Damaged("chunk %s: header" % name)
        if hashlib.sha256(payload).digest() != checksum:
            raise Damaged("chunk %s: stored checksum" % name)
        if self.master is not None:
            try:
                payload = AESGCM(_subkey(self.master, "vadp chunk data")).decrypt(payload[:12], payload[12:], name.encode())
            except InvalidTag:
                raise Damaged("chunk %s fails authentication" % name)
        if compression:
            try:
                payload = zstandard.ZstdDecompressor().decompress(payload, max_output_size=plain_length)
            except zstandard.ZstdError:
                raise Damaged("chunk %s does not decompress" % name)
        if len(payload) != plain_length:
            raise Damaged("chunk %s: plain length" % name)
        if self.master is None and hashlib.sha256(payload).hexdigest() != name:
            raise Damaged("chunk %s: its data does not match its name" % name)
        return payload

    def image(self, vm, point, disk_key, out):
        """Writes the disk's image to out; returns its SHA-256."""
        [disk] = [d for d in self.manifest(vm, point)["disks"] if str(d["key"]) == str(disk_key)]
        capacity, entries = self.index(vm, point, disk)
        digest = hashlib.sha256()
        with open(out, "wb") as f:
            for i, name in enumerate(entries):
                length = min(self.chunk_size, capacity - i * self.chunk_size)
                data = bytes(length) if name is None else self.chunk(name)[:length]
                f.write(data)
                digest.update(data)
        return digest.hexdigest()

    def verify(self, deep=False):
        """Every problem of every point, as the page's "Verifying" describes them:
        {"point", "disk", "offset", "problem"}; disk and offset None where they are not known."""
        problems = []
        for vm, point in self.points():
            try:
                manifest = self.manifest(vm, point)
            except Damaged as exc:
                problems.append({"point": point, "disk": None, "offset": None, "problem": str(exc)})
                continue
            for disk in manifest["disks"]:
                try:
                    _capacity, entries = self.index(vm, point, disk)
                except (Damaged, OSError) as exc:
                    problems.append({"point": point, "disk": disk["key"], "offset": None, "problem": str(exc)})
                    continue
                for i, name in enumerate(entries):
                    try:
                        if name is None:
                            continue
                        if deep:
                            self.chunk(name)
                        elif not os.path.exists(self.chunk_path(name)):
                            raise Damaged("chunk %s is missing" % name)
                    except Damaged as exc:
                        problems.append({"point": point, "disk": disk["key"], "offset": i * self.chunk_size,
                                         "problem": str(exc)})
        return problems


def main(arguments):
    if arguments[0] == "--verify":
        reader = Reader(arguments[2], arguments[3] if len(arguments) > 3 else None)
        for vm, point in reader.points():
            print(json.dumps({"vm": vm, "point": point}))
        problems = reader.verify(deep=arguments[1] == "deep")
        for problem in problems:
            print(json.dumps(problem))
        return 1 if problems else 0
    repository, vm, point, disk_key, out = arguments[:5]
    print(Reader(repository, arguments[5] if len(arguments) > 5 else None).image(vm, point, disk_key, out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
