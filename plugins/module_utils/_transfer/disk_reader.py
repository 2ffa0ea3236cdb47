# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backing one disk up into a repository through VDDK: whole chunks read (read-only, through the
backup's snapshot) while earlier ones are hashed, compressed and stored on other threads. No
Ansible imports.
"""

from __future__ import annotations

import ctypes
import mmap
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.vadp.vsphere.plugins.module_utils._repository.immutability import RetentionLock
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.index import ChunkNames, DiskIndex
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import PlanInvalidError, ReadDiskPlan, TransferPlan
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.progress import Progress
from ansible_collections.vadp.vsphere.plugins.module_utils.extents import SECTOR

# VDDK metadata the disk library owns: never saved, never replayed.
OWNED_METADATA_PREFIXES = ("longContentID", "CID", "ctk", "encryption", "iofilter", "deletable")


class DiskReader:
    """The index starts as the parent's (an incremental) or all zeros (a full); the chunks read
    replace their entries."""

    def __init__(self, plan: TransferPlan, disk_plan: ReadDiskPlan, connection, progress: Progress):
        self.disk_plan, self.connection, self.progress = disk_plan, connection, progress
        self.repository = Repository(disk_plan.repository)
        self.chunk = disk_plan.chunk_size
        if self.chunk != self.repository.chunk_size:
            raise PlanInvalidError("transfer plan, disk %s: chunk_size %d, the repository's is %d" % (
                disk_plan.id, self.chunk, self.repository.chunk_size))
        self.piece = min(plan.buffer_bytes, self.chunk)
        self.stats = {"chunks_read": 0, "new_chunks": 0, "reused_chunks": 0, "zero_chunks": 0, "stored_bytes": 0,
                      "bytes_read": 0, "new_bytes": 0}
        self.lock = threading.Lock()
        self.retention = RetentionLock.from_json(disk_plan.lock)

    def _store(self, index: DiskIndex, number: int, data: bytes) -> None:
        digest, stored = self.repository.chunks.put(data, self.retention)
        with self.lock:
            index.entries[number] = digest
            key = "zero_chunks" if digest is None else ("new_chunks" if stored else "reused_chunks")
            self.stats[key] += 1
            self.stats["stored_bytes"] += stored
            if stored:
                self.stats["new_bytes"] += len(data)  # what the new chunks held before compression: anomaly.py

    def _starting_index(self) -> DiskIndex:
        capacity = self.disk_plan.capacity
        count = -(-capacity // self.chunk)
        entries = ChunkNames(raw=bytes(32 * count))
        if self.disk_plan.parent_index:
            parent = self.repository.points.load_index(self.disk_plan.parent_index, self.disk_plan.parent_index)
            inherited = parent.entries.raw[:32 * count]  # a grown disk's new chunks start as zeros
            entries.raw[:len(inherited)] = inherited
        return DiskIndex(self.chunk, capacity, entries)

    def run(self) -> None:
        disk_id, capacity = self.disk_plan.id, self.disk_plan.capacity
        index = self._starting_index()
        self.progress.set(disk_id, state="running")
        disk = self.connection.open(self.disk_plan.path, read_only=True)
        at_once = self.repository.storage.concurrency
        pool = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="mover-store")
        pending = []
        try:
            self.progress.set(disk_id, transport=disk.transport_mode)
            metadata = {k: disk.read_metadata(k) for k in disk.metadata_keys() if not k.startswith(OWNED_METADATA_PREFIXES)}
            data = mmap.mmap(-1, self.chunk)  # page aligned, and its pages stay mapped from one chunk to the next
            for number in self.disk_plan.chunks:
                offset = number * self.chunk
                length = min(self.chunk, capacity - offset)
                for piece in range(0, length, self.piece):
                    n = min(self.piece, length - piece)
                    view = (ctypes.c_char * n).from_buffer(data, piece)
                    disk.read_async((offset + piece) // SECTOR, view, n // SECTOR)
                    del view
                disk.wait()
                pending.append(pool.submit(self._store, index, number, data[:length]))  # a copy: data is read into next
                while len(pending) > at_once:  # storing may lag the reads by that many chunks, no more
                    pending.pop(0).result()
                self.stats["chunks_read"] += 1
                self.stats["bytes_read"] += length
                self.progress.add(disk_id, length)
            for future in pending:
                future.result()
        finally:
            pool.shutdown(wait=True)
            disk.close()
        if self.retention and self.disk_plan.lock_carried:
            read = set(self.disk_plan.chunks)
            self.repository.chunks.lock({e for n, e in enumerate(index.entries) if e and n not in read}, self.retention)
        self.repository.storage.sync()  # every chunk the index names is durable before the index exists
        self.repository.points.write_index(self.disk_plan.index_out, index, self.retention)
        self.progress.set(disk_id, state="done", metadata=metadata, stats=self.stats)
