"""Reads one disk of one restore point from docs/restore-point-format.md alone, without any code of
the collection: the proof that the format is open. Versions 1 and 2, encrypted or not.

    python independent_reader.py REPOSITORY VMKEY POINT DISKKEY OUT [KEYFILE]

writes the disk's image to OUT and prints its SHA-256.
"""
import hashlib
import hmac
import json
import os
import struct
import sys

import zstandard
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt


def subkey(master, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(master)


def master_key(encryption, key_file):
    data = open(key_file, "rb").read()
    if encryption["kdf"] == "raw":
        master = bytes.fromhex(data.strip().decode())
    else:
        master = Scrypt(salt=bytes.fromhex(encryption["salt"]), length=32, n=encryption["n"], r=encryption["r"],
                        p=encryption["p"]).derive(data.rstrip(b"\r\n"))
    check = hmac.new(subkey(master, "vadp check"), b"vadp key check", hashlib.sha256).hexdigest()
    assert check == encryption["key_check"], "wrong key"
    return master


def main():
    repo, vm, point, disk_key, out = sys.argv[1:6]
    settings = json.load(open(os.path.join(repo, "repository.json")))
    assert settings["format"] == "vadp-restore-points" and settings["version"] in (1, 2)
    encryption = settings.get("encryption")
    master = master_key(encryption, sys.argv[6]) if encryption else None

    def read_file(relative):
        data = open(os.path.join(repo, relative), "rb").read()
        if not encryption:
            return data
        assert data[:8] == b"VADPENC1"
        return AESGCM(subkey(master, "vadp point files")).decrypt(data[8:20], data[20:], relative.encode())

    folder = "vms/%s/points/%s" % (vm, point)
    manifest = json.loads(read_file(folder + "/manifest.json"))
    [disk] = [d for d in manifest["disks"] if str(d["key"]) == disk_key]
    index = read_file(folder + "/" + disk["index"])
    magic, chunk_size, capacity, count = struct.unpack_from("<8sQQQ", index)
    assert magic == b"VADPIDX1" and hashlib.sha256(index[:-32]).digest() == index[-32:]
    digest = hashlib.sha256()
    with open(out, "wb") as f:
        for i in range(count):
            entry = index[32 + 32 * i:64 + 32 * i]
            length = min(chunk_size, capacity - i * chunk_size)
            if entry == bytes(32):
                data = bytes(length)
            else:
                name = entry.hex()
                stored = open(os.path.join(repo, "chunks", name[:2], name[2:4], name), "rb").read()
                magic, compression, plain_length, checksum = struct.unpack_from("<8sB3xI32s", stored)
                payload = stored[48:]
                assert magic == b"VADPCHK1" and hashlib.sha256(payload).digest() == checksum
                if encryption:
                    payload = AESGCM(subkey(master, "vadp chunk data")).decrypt(payload[:12], payload[12:], name.encode())
                data = zstandard.ZstdDecompressor().decompress(payload, max_output_size=plain_length) if compression else payload
                named = (hmac.new(subkey(master, "vadp chunk names"), data, hashlib.sha256) if encryption
                         else hashlib.sha256(data)).hexdigest()
                assert named == name and len(data) == plain_length
            f.write(data[:length])
            digest.update(data[:length])
    print(digest.hexdigest())


if __name__ == "__main__":
    main()
