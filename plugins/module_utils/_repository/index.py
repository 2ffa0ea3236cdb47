# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A disk index (docs/restore-point-format.md, "Disk index"): the chunk names of one disk at one
point, in order, with its trailing checksum. No Ansible imports."""

import hashlib
import struct

from ansible_collections.vadp.vsphere.plugins.module_utils.extents import Extent
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import RepositoryError

INDEX_MAGIC = b"VADPIDX1"
INDEX_HEADER = struct.Struct("<8sQQQ")  # magic, chunk size, capacity, entries
ZERO_ENTRY = bytes(32)


class ChunkNames:
    """A disk's chunk names in order, 32 bytes each (None: a zero chunk): a list of hex strings
    would take 120 bytes a chunk, over 100 MiB for a TiB of 1 MiB chunks."""

    def __init__(self, names=(), raw=None):
        self.raw = bytearray(raw) if raw is not None else bytearray(b"".join(
            ZERO_ENTRY if name is None else bytes.fromhex(name) for name in names))

    def __len__(self):
        return len(self.raw) // 32

    def __getitem__(self, number):
        if isinstance(number, slice):
            return [self[i] for i in range(*number.indices(len(self)))]
        if number < 0:
            number += len(self)
        if not 0 <= number < len(self):
            raise IndexError(number)
        digest = self.raw[32 * number:32 * (number + 1)]
        return None if digest == ZERO_ENTRY else digest.hex()

    def __setitem__(self, number, name):
        self.raw[32 * number:32 * (number + 1)] = ZERO_ENTRY if name is None else bytes.fromhex(name)

    def __iter__(self):
        for number in range(len(self)):
            yield self[number]

    def __eq__(self, other):
        return list(self) == list(other)


class DiskIndex:
    """The chunk names of one disk at one point (None for a zero chunk)."""

    def __init__(self, chunk_size, capacity, entries):
        self.chunk_size, self.capacity = chunk_size, capacity
        self.entries = entries if isinstance(entries, ChunkNames) else ChunkNames(entries)

    def to_bytes(self):
        body = INDEX_HEADER.pack(INDEX_MAGIC, self.chunk_size, self.capacity, len(self.entries)) + bytes(self.entries.raw)
        return body + hashlib.sha256(body).digest()

    @classmethod
    def from_bytes(cls, data, name="index"):
        if len(data) < INDEX_HEADER.size + 32:
            raise RepositoryError("%s is truncated (%d bytes)" % (name, len(data)))
        magic, chunk_size, capacity, count = INDEX_HEADER.unpack_from(data)
        expected = INDEX_HEADER.size + 32 * count + 32
        if magic != INDEX_MAGIC or len(data) != expected:
            raise RepositoryError("%s is damaged or truncated (%d bytes, %d expected)" % (name, len(data), expected))
        if hashlib.sha256(data[:-32]).digest() != data[-32:]:
            raise RepositoryError("%s fails its checksum" % name)
        return cls(chunk_size, capacity, ChunkNames(raw=memoryview(data)[INDEX_HEADER.size:-32]))

    def fits(self, chunk_size, capacity):
        """Whether this index can be the index of a disk of capacity in a repository of chunk_size
        (a plain index's checksum can be recomputed by anyone: its header must fit as well)."""
        return (self.chunk_size == chunk_size and self.capacity == capacity
                and len(self.entries) == -(-capacity // chunk_size))

    def extents(self):
        """The disk's image as Extents whose source is a chunk's name, or None for zeros (runs of
        zero chunks merged)."""
        result = []
        for i, entry in enumerate(self.entries):
            offset = i * self.chunk_size
            length = min(self.chunk_size, self.capacity - offset)
            if entry is None and result and result[-1].source is None:
                result[-1] = result[-1]._replace(length=result[-1].length + length)
            else:
                result.append(Extent(offset, length, entry))
        return result

    def runs(self):
        """The disk as (offset, length, holds_data) runs: chunks with data merged, and zero chunks
        merged, so that a restore plan has an extent per run, not per chunk."""
        raw, offset, run_start, run_data = self.entries.raw, 0, 0, None
        for number in range(len(self.entries)):
            holds_data = raw[32 * number:32 * (number + 1)] != ZERO_ENTRY
            if holds_data != run_data:
                if run_data is not None:
                    yield run_start, offset - run_start, run_data
                run_start, run_data = offset, holds_data
            offset = min(offset + self.chunk_size, self.capacity)
        if run_data is not None:
            yield run_start, offset - run_start, run_data
