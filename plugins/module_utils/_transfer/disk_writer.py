# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing one disk of a restore plan through VDDK: a reader thread fills page-aligned buffers
from the source while VDDK writes earlier ones (several WriteAsync in flight). No Ansible imports.
"""

from __future__ import annotations

import collections
import ctypes
import mmap
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.chunks import all_zeros, read_ahead_chunks
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointNotFoundError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.pieces import pieces, zeros_where_allocated
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import (
    FilesSource,
    PointExtent,
    RepositorySource,
    TransferPlan,
    WriteDiskPlan,
    ZeroExtent,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.progress import Checkpoint, Progress
from ansible_collections.vadp.vsphere.plugins.module_utils.extents import SECTOR


class ReadBackMismatchError(VadpError):
    """A written piece read back through VDDK differs from its source: the disk did not keep it."""
    error_code = "READ_BACK_MISMATCH"


class _RepositoryReader:
    """Pieces of the point's chunks, found in its index: each chunk read, verified and decompressed
    once, on a thread pool a few chunks ahead of the writer (hashing and zstd release the GIL), then
    cut."""

    def __init__(self, source: RepositorySource, extents=()):
        self.source, self.repository = source, Repository(source.path)
        manifest = self.repository.points.by_id(source.point_id)
        disk = next((d for d in manifest["disks"] if str(d["key"]) == str(source.disk)), None)
        if disk is None:
            raise PointNotFoundError("point %s has no disk %s" % (source.point_id, source.disk))
        self.index = self.repository.points.read_index(manifest, disk)
        self.chunk_size = self.index.chunk_size
        self.extents = [e for e in extents if isinstance(e, PointExtent)]
        self.read_ahead = read_ahead_chunks(self.chunk_size)  # with the one being cut, all it holds
        self.cached, self.data = None, memoryview(b"")
        self.zeros = memoryview(bytes(self.chunk_size))  # what a zero chunk's parts are cut from
        self.upcoming: Iterator[int] = iter(())  # numbers of the chunks to read ahead, in the plan's order
        self.ahead: collections.deque = collections.deque()  # (number, future), in order
        self.pool = ThreadPoolExecutor(max_workers=self.repository.storage.concurrency, thread_name_prefix="mover-fetch")

    def _numbers_from(self, number: int) -> Iterator[int]:
        """The numbers of the chunks with data the plan reads, from chunk number on, each once."""
        for extent in self.extents:
            end = -(-(extent.offset + extent.length) // self.chunk_size)
            for following in range(max(number, extent.offset // self.chunk_size), end):
                if self.index.entries[following] is not None:
                    yield following
            number = max(number, end)

    def _fetch(self, number: int) -> memoryview:
        where = " (point %s, disk %s, offset %d)" % (self.source.point_id, self.source.disk, number * self.chunk_size)
        return memoryview(self.repository.chunks.get(self.index.entries[number], where, rehash=self.source.verify))

    def _take(self, number: int) -> memoryview:
        if not any(ahead == number for ahead, _future in self.ahead):
            # the first call, or a resumed transfer: read ahead from this chunk on
            for _ahead, future in self.ahead:
                future.cancel()
            self.ahead.clear()
            self.upcoming = self._numbers_from(number)
        while len(self.ahead) < self.read_ahead:
            following = next(self.upcoming, None)
            if following is None:
                break
            self.ahead.append((following, self.pool.submit(self._fetch, following)))
        while self.ahead and self.ahead[0][0] != number:
            self.ahead.popleft()[1].cancel()
        if not self.ahead:
            return self._fetch(number)  # not in the plan's order: read it here
        return self.ahead.popleft()[1].result()

    def _part(self, offset: int, length: int):
        number, within = divmod(offset, self.chunk_size)
        if self.index.entries[number] is None:
            return self.zeros[:length]
        if number != self.cached:
            self.data, self.cached = self._take(number), number
        return self.data[within:within + length]

    def __call__(self, offset: int, length: int, extent, position: int) -> list:
        """The piece's bytes as views into the chunks it spans (an extent is cut into pieces of the
        buffer's size, not at chunk borders): copied once, into the buffer VDDK writes."""
        if isinstance(extent, ZeroExtent):
            return [bytes(length)]
        parts, end = [], offset + length
        while offset < end:
            n = min(end, (offset // self.chunk_size + 1) * self.chunk_size) - offset
            parts.append(self._part(offset, n))
            offset += n
        return parts

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _FilesReader:
    """Pieces of source files (a raw image, a merged chain's files)."""

    def __init__(self, source: FilesSource):
        self.paths = source.paths
        self.fds = [os.open(path, os.O_RDONLY) for path in source.paths]

    def __call__(self, offset: int, length: int, extent, position: int) -> list:
        if isinstance(extent, ZeroExtent):
            return [bytes(length)]
        data = os.pread(self.fds[extent.file], length, extent.file_offset + position)
        if len(data) != length:  # the file shrank since it was planned: never write a short piece
            raise OSError("%s: %d bytes at offset %d, %d expected" % (
                self.paths[extent.file], len(data), extent.file_offset + position, length))
        return [data]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


def _source_reader(disk_plan: WriteDiskPlan):
    if isinstance(disk_plan.source, RepositorySource):
        return _RepositoryReader(disk_plan.source, disk_plan.extents)
    return _FilesReader(disk_plan.source)  # the plan refuses any other kind when it is built or loaded


class DiskWriter:
    """Writes one disk's extents from its source: a reader thread ahead, VDDK writes in flight."""

    def __init__(self, plan: TransferPlan, disk_plan: WriteDiskPlan, connection, progress: Progress,
                 checkpoint: Checkpoint):
        self.plan, self.disk_plan = plan, disk_plan
        self.connection, self.progress, self.checkpoint = connection, progress, checkpoint
        self.extents = disk_plan.extents
        self.piece_bytes = plan.buffer_bytes
        self.free: queue.Queue = queue.Queue()
        for _i in range(plan.in_flight + 2):  # page-aligned, as direct I/O (SAN, UNBUFFERED) needs
            self.free.put(mmap.mmap(-1, self.piece_bytes))
        self.filled: queue.Queue = queue.Queue(maxsize=plan.in_flight + 1)

    def _read_source(self, skip: int) -> None:
        read = None
        try:
            read = _source_reader(self.disk_plan)
            skip_zeros = isinstance(self.disk_plan.source, FilesSource) and self.disk_plan.source.skip_zero_pieces
            for offset, length, extent, position in pieces(self.extents, self.piece_bytes, skip):
                buffer = self.free.get()
                if buffer is None:
                    return
                parts = read(offset, length, extent, position)
                if skip_zeros and all(all_zeros(part) for part in parts):  # fresh disk: zeros need no write
                    self.free.put(buffer)
                    self.filled.put((offset, length, None))
                    continue
                at = 0
                for part in parts:
                    buffer[at:at + len(part)] = part
                    at += len(part)
                self.filled.put((offset, length, buffer))
        except Exception as exc:  # noqa: BLE001 - handed to the writer, which reports it
            self.filled.put(exc)
            return
        finally:
            if read is not None:
                read.close()
        self.filled.put(None)

    def _read_back(self, disk, disk_id: str) -> None:
        """Read every piece of the plan back through VDDK and compare it with its source."""
        read = _source_reader(self.disk_plan)
        buffer = mmap.mmap(-1, self.piece_bytes)  # page aligned, as direct I/O needs
        self.progress.set(disk_id, state="verifying")
        try:
            for offset, length, extent, position in pieces(self.extents, self.piece_bytes, 0):
                view = (ctypes.c_char * length).from_buffer(buffer)
                disk.read(offset // SECTOR, view, length // SECTOR)
                del view
                if buffer[:length] != b"".join(read(offset, length, extent, position)):
                    self.checkpoint.save(disk_id, 0)  # a re-run writes the whole disk again
                    raise ReadBackMismatchError("the disk does not hold what was written at offset %d (%d bytes): read back "
                                                "through VDDK, it differs from the source" % (offset, length))
                self.progress.verified(disk_id, length)
        finally:
            buffer.close()
            read.close()

    def _written(self, disk_id: str, buffer, length: int, error) -> None:
        """VDDK completed a write (on its thread): count it and free its buffer."""
        if error is None:
            self.progress.add(disk_id, length)
        self.free.put(buffer)

    def _cut_zeros_to_allocated(self, disk, disk_id: str) -> None:
        blocks = disk.allocated_blocks(chunk_sectors=128)
        if blocks is None:  # VDDK cannot tell: every zero of the point is written, nothing is left unknown
            self.progress.set(disk_id, allocation_known=False)
            return
        allocated = [(o * SECTOR, n * SECTOR) for o, n in blocks]
        self.extents = zeros_where_allocated(self.extents, allocated)
        self.progress.set(disk_id, allocation_known=True, bytes_total=sum(e.length for e in self.extents))

    def run(self) -> None:
        disk_id = self.disk_plan.id
        skip = self.checkpoint.done.get(disk_id, 0)
        self.progress.set(disk_id, state="running")
        disk = self.connection.open(self.disk_plan.path, unbuffered=self.plan.unbuffered)
        try:
            self.progress.set(disk_id, transport=disk.transport_mode)
            if skip == 0:
                for key, value in sorted(self.disk_plan.metadata.items()):
                    self.progress.writing(disk_id)
                    disk.write_metadata(key, value)  # metadata before data, as VDDK's restore sequence has it
            if self.disk_plan.zeros_where_allocated:
                self._cut_zeros_to_allocated(disk, disk_id)
            reader = threading.Thread(target=self._read_source, args=(skip,), name="mover-read", daemon=True)
            reader.start()
            done, unflushed = skip, 0
            while True:
                item = self.filled.get()
                if item is None:
                    break
                if isinstance(item, Exception):
                    raise item
                offset, length, buffer = item
                if buffer is None:
                    self.progress.add(disk_id, length, skipped=True)
                    done += length
                    continue
                view = (ctypes.c_char * length).from_buffer(buffer)
                self.progress.writing(disk_id)  # from here a failure leaves the disk changed
                disk.write_async(offset // SECTOR, view, length // SECTOR,
                                 on_done=lambda _view, error, n=length, b=buffer: self._written(disk_id, b, n, error))
                del view
                done += length
                unflushed += length
                if unflushed >= self.plan.checkpoint_every_bytes:
                    disk.flush()  # the checkpoint only counts bytes VDDK has written and flushed
                    self.checkpoint.save(disk_id, done)
                    unflushed = 0
            disk.flush()
            self.checkpoint.save(disk_id, done)
            if self.disk_plan.verify_after_write:
                self._read_back(disk, disk_id)
        except BaseException:
            self.free.put(None)  # let the reader stop
            raise
        finally:
            try:
                disk.close()
            finally:
                self.progress.set(disk_id, state="closed")
        self.progress.set(disk_id, state="done")
