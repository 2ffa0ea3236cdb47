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


class DiskIndex:
    """The chunk names of one disk at one point (None for a zero chunk)."""

    def __init__(self, chunk_size, capacity, entries):
        self.chunk_size, self.capacity, self.entries = chunk_size, capacity, entries

    def to_bytes(self):
        body = INDEX_HEADER.pack(INDEX_MAGIC, self.chunk_size, self.capacity, len(self.entries)) + b"".join(
            ZERO_ENTRY if e is None else bytes.fromhex(e) for e in self.entries)
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
        entries = []
        for i in range(count):
            raw = data[INDEX_HEADER.size + 32 * i:INDEX_HEADER.size + 32 * (i + 1)]
            entries.append(None if raw == ZERO_ENTRY else raw.hex())
        return cls(chunk_size, capacity, entries)

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
