# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chunk store (docs/restore-point-format.md, "Chunks"): content-addressed, write-once chunk
files under REPO/chunks/, compressed when that helps, sealed in an encrypted repository, and
checked field by field whenever one is read. No Ansible imports.
"""

import functools
import hashlib
import os
import secrets
import struct
import threading
from typing import Iterator, Optional, Tuple

try:
    import zstandard
    HAS_ZSTD = True
except ImportError:
    HAS_ZSTD = False

from ansible_collections.vadp.vsphere.plugins.module_utils._repository import crypto
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import ChunkCorruptError, RepositoryError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.writes import makedirs, write_new_file

MAX_CHUNK_SIZE = 64 << 20  # a chunk is held whole in memory while it is stored or restored
CHUNK_MAGIC = b"VADPCHK1"
CHUNK_HEADER = struct.Struct("<8sB3sI32s")  # magic, compression, reserved (zero), plain length, sha256(payload)
_RESERVED = bytes(3)
COMPRESSION_NONE, COMPRESSION_ZSTD = 0, 1


@functools.lru_cache(maxsize=4)
def _zeros(length: int) -> bytes:
    return bytes(length)


_compressors = threading.local()


def _compress(data: bytes) -> bytes:
    """zstd level 3 with this thread's compressor (a compressor serves one thread at a time; making
    one per chunk costs a third of the compression itself)."""
    compressor = getattr(_compressors, "zstd", None)
    if compressor is None:
        compressor = _compressors.zstd = zstandard.ZstdCompressor(level=3)
    return compressor.compress(data)


def all_zeros(data: bytes) -> bool:
    """Whether data is only zero bytes: one memcmp that stops at the first non-zero byte, where strip
    or count would copy or scan the whole chunk."""
    return data == _zeros(len(data))


class ChunkStore:
    """The chunks of one repository; keys (crypto.RepositoryKeys) when it is encrypted."""

    def __init__(self, root: str, mode: int, keys: Optional[crypto.RepositoryKeys] = None):
        self.folder, self.mode, self.keys = os.path.join(root, "chunks"), mode, keys

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name[:2], name[2:4], name)

    def has(self, name: str) -> bool:
        return os.path.exists(self.path(name))

    def name(self, data) -> str:
        """SHA-256 of the data, or in an encrypted repository its HMAC: the name says nothing of the content."""
        return self.keys.chunk_name(data) if self.keys else hashlib.sha256(data).hexdigest()

    def put(self, data) -> Tuple[Optional[str], int]:
        """Store plain data (unless it is all zeros or already stored): (name or None, stored bytes)."""
        if all_zeros(data):
            return None, 0
        name = self.name(data)
        path = self.path(name)
        if os.path.exists(path):
            return name, 0
        payload, compression = data, COMPRESSION_NONE
        if HAS_ZSTD:
            packed = _compress(data)
            if len(packed) < len(data):  # incompressible data (random, already compressed) is stored as it is
                payload, compression = packed, COMPRESSION_ZSTD
        if self.keys:
            payload = self.keys.seal_chunk(name, payload)
        # a plain chunk stored raw: its payload's SHA-256 is its name, already computed
        checksum = bytes.fromhex(name) if payload is data else hashlib.sha256(payload).digest()
        stored = CHUNK_HEADER.pack(CHUNK_MAGIC, compression, _RESERVED, len(data), checksum) + payload
        makedirs(os.path.dirname(path), self.mode)
        temporary = "%s.tmp.%s" % (path, secrets.token_hex(6))
        write_new_file(temporary, stored)
        try:
            os.link(temporary, path)  # write-once: never replaces a chunk another writer stored
        except FileExistsError:
            return name, 0
        finally:
            os.unlink(temporary)
        return name, len(stored)

    def get(self, name: str, where: str = "", rehash: bool = True):
        """The plain data of a chunk (bytes, or a read-only view of them), checked against its stored
        checksum and (rehash) its name; where says which point, disk and offset need it."""
        try:
            with open(self.path(name), "rb") as f:
                stored = f.read()
        except OSError:
            raise ChunkCorruptError("chunk %s is missing%s" % (name, where))
        if len(stored) < CHUNK_HEADER.size:
            raise ChunkCorruptError("chunk %s is truncated%s" % (name, where))
        magic, compression, reserved, length, checksum = CHUNK_HEADER.unpack_from(stored)
        payload = memoryview(stored)[CHUNK_HEADER.size:]  # no copy of the chunk
        actual = hashlib.sha256(payload).digest()
        if magic != CHUNK_MAGIC or actual != checksum:
            raise ChunkCorruptError("chunk %s is damaged (stored checksum)%s" % (name, where))
        # the checksum covers the payload only: every header field is checked for what it can be
        if compression not in (COMPRESSION_NONE, COMPRESSION_ZSTD) or reserved != _RESERVED:
            raise ChunkCorruptError("chunk %s is damaged (its header: compression %d, reserved %s)%s" % (
                name, compression, reserved.hex(), where))
        if self.keys:
            try:
                payload = self.keys.open_chunk(name, payload)
            except crypto.TamperedError as exc:
                raise ChunkCorruptError(exc.message + where)
            # authenticated under its name: only a key holder, who names a chunk by its keyed hash, wrote it
            rehash = False
        if compression == COMPRESSION_ZSTD:
            if not HAS_ZSTD:
                raise RepositoryError("chunk %s is zstd-compressed: install the zstandard Python package" % name)
            try:
                data = zstandard.ZstdDecompressor().decompress(payload, max_output_size=length)
            except zstandard.ZstdError as exc:  # a header saying zstd over what is not, or a wrong length
                raise ChunkCorruptError("chunk %s is damaged (it does not decompress: %s)%s" % (name, exc, where))
        else:
            data = payload  # a view of what was read: no second copy of the chunk
            if rehash and not self.keys:  # a plain chunk stored raw: the hash just checked is its name's
                if actual.hex() != name:
                    raise ChunkCorruptError("chunk %s does not match its hash%s" % (name, where))
                rehash = False
        if len(data) != length or (rehash and self.name(data) != name):
            raise ChunkCorruptError("chunk %s does not match its hash%s" % (name, where))
        return data

    def stored(self) -> Iterator[Tuple[str, str, int]]:
        """(file name, path, size) of every file in the chunk folders, chunks and leftovers alike."""
        for first in sorted(os.listdir(self.folder)) if os.path.isdir(self.folder) else []:
            for second in sorted(os.listdir(os.path.join(self.folder, first))):
                with os.scandir(os.path.join(self.folder, first, second)) as entries:
                    for entry in entries:
                        yield entry.name, entry.path, entry.stat().st_size
