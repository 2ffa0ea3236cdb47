# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chunk store (docs/restore-point-format.md, "Chunks"): content-addressed, write-once chunk
objects under chunks/ in the repository's storage, compressed when that helps, sealed in an encrypted repository, and
checked field by field whenever one is read. No Ansible imports.
"""

import functools
import hashlib
import struct
import threading
from typing import Iterator, List, Optional, Tuple

try:
    import zstandard
    HAS_ZSTD = True
except ImportError:
    HAS_ZSTD = False

from ansible_collections.vadp.vsphere.plugins.module_utils._repository import crypto
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import ChunkCorruptError, RepositoryError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import StoredObject

MAX_CHUNK_SIZE = 64 << 20  # a chunk is held whole in memory while it is stored or restored
CHUNK_MAGIC = b"VADPCHK1"
CHUNK_HEADER = struct.Struct("<8sB3sI32s")  # magic, compression, reserved (zero), plain length, sha256(payload)
_RESERVED = bytes(3)
COMPRESSION_NONE, COMPRESSION_ZSTD = 0, 1


READ_AHEAD_BYTES = 16 << 20


def read_ahead_chunks(chunk_size: int) -> int:
    """How many chunks a sequential reader of a point (a restore, an export) fetches ahead of
    itself: 16 MiB, so a finer chunk size keeps as much in flight, but 4 to 16 chunks."""
    return min(16, max(4, READ_AHEAD_BYTES // chunk_size))


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
    """The chunks of one repository (in storage, a storage.LocalStorage or s3.S3Storage); keys
    (crypto.RepositoryKeys) when it is encrypted."""

    FOLDER = "chunks"

    def __init__(self, storage, keys: Optional[crypto.RepositoryKeys] = None):
        self.storage, self.keys = storage, keys

    def key(self, name: str) -> str:
        return "%s/%s/%s/%s" % (self.FOLDER, name[:2], name[2:4], name)

    def describe(self, name: str) -> str:
        """Where the chunk is, for a message."""
        return self.storage.describe(self.key(name))

    def has(self, name: str) -> bool:
        return self.storage.exists(self.key(name))

    def missing(self, names) -> List[str]:
        """Which of names the store lacks, sorted. In object storage, for more than a few, one
        listing of the store answers where a request per chunk would not; in a folder names are
        checked as they come, never all held at once (a TiB of 1 MiB chunks is a million)."""
        if not self.storage.remote:
            return sorted({n for n in names if not self.has(n)})
        names = set(names)
        if len(names) > 100:
            return sorted(names - {name for name, _stored in self.stored()})
        return sorted(n for n in names if not self.has(n))

    def size(self, name: str) -> Optional[int]:
        """Its stored size, or None when it is missing."""
        return self.storage.size(self.key(name))

    def name(self, data) -> str:
        """SHA-256 of the data, or in an encrypted repository its HMAC: the name says nothing of the content."""
        return self.keys.chunk_name(data) if self.keys else hashlib.sha256(data).hexdigest()

    def put(self, data, lock=None) -> Tuple[Optional[str], int]:
        """Store plain data (unless it is all zeros or already stored): (name or None, stored bytes).
        lock (immutability.RetentionLock): the chunk, new or found, stays locked at least until its date."""
        if all_zeros(data):
            return None, 0
        name = self.name(data)
        key = self.key(name)
        if self._found(key, lock):
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
        # write-once: never replaces a chunk another writer stored
        # durable at the point's commit (storage.sync before its index), or as written where that is not enough
        if not self.storage.create(key, stored, durable=self.storage.durable_chunks, retain_until=lock.target if lock else None):
            self._found(key, lock)
            return name, 0
        return name, len(stored)

    def _found(self, key: str, lock) -> bool:
        """Whether the chunk is stored; with a lock, one it holds too short a time is locked longer."""
        if lock is None:
            return self.storage.exists(key)
        try:
            locked_until = self.storage.retained_until(key)  # one request: whether it exists, and its lock
        except FileNotFoundError:
            return False
        if lock.needs(locked_until):
            self.storage.retain(key, lock.target)
        return True

    def lock(self, names, lock) -> None:
        """Lock the named chunks until lock.target (chunks a point takes over from its parent)."""
        for name in names:
            self.storage.retain(self.key(name), lock.target)

    def extend(self, names, lock) -> None:
        """Lock the named chunks that lock.until would outlast until lock.target (a request each to learn it)."""
        for name in names:
            self._found(self.key(name), lock)

    def get(self, name: str, where: str = "", rehash: bool = True):
        """The plain data of a chunk (bytes, or a read-only view of them), checked against its stored
        checksum and (rehash) its name; where says which point, disk and offset need it."""
        try:
            stored = self.storage.read(self.key(name))
        except OSError:  # absent, or not a file
            raise ChunkCorruptError("chunk %s is missing%s" % (name, where))
        return self.decode(name, stored, where, rehash)

    def decode(self, name: str, stored: bytes, where: str = "", rehash: bool = True):
        """The plain data of the chunk name stored as `stored`, checked as get checks it."""
        compression, length, payload, actual = self._checked_payload(name, stored, where)
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

    def check_stored(self, name: str, stored: bytes, where: str = "") -> None:
        """Check what needs no key: the header and the payload against its stored checksum (a sealed
        chunk's content is checked when a key holder opens it)."""
        self._checked_payload(name, stored, where)

    def _checked_payload(self, name: str, stored: bytes, where: str):
        """(compression, plain length, payload view, sha256 of the payload) of a chunk whose header
        and stored checksum hold."""
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
        return compression, length, payload, actual

    def stored(self) -> Iterator[Tuple[str, StoredObject]]:
        """(name, object) of every object under chunks/, chunks and a crashed writer's leftovers alike."""
        for stored in self.storage.walk(self.FOLDER):
            yield stored.key.rpartition("/")[2], stored
