# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The data mover's worker process: runs a transfer plan through VDDK.

Started by data_mover.DataMover with LD_LIBRARY_PATH=<libdir>/lib64 (VDDK brings its own libssl,
and the loader reads that variable only at process start) and the plan's path as its argument;
secrets arrive as JSON on stdin. Per disk, a reader thread fills page-aligned buffers from the
source while VDDK writes earlier ones (several WriteAsync in flight); disks run in parallel up to
a bound, with Open and Close on the binding's one thread. Every ``checkpoint_every_bytes`` the
disk is flushed and the checkpoint rewritten atomically, so a second run resumes there. Progress
goes to the status file; the result (or the error, with VDDK's last log lines) to stdout as JSON.
No Ansible imports.
"""

import ctypes
import hashlib
import json
import logging
import mmap
import os
import queue
import resource
import sys
from concurrent.futures import ThreadPoolExecutor
import threading
import time

from ansible_collections.vadp.vsphere.plugins.module_utils.files import write_json_atomically
from ansible_collections.vadp.vsphere.plugins.module_utils.repository.store import DiskIndex, Repository, write_index_file
from ansible_collections.vadp.vsphere.plugins.module_utils.jobs.restore_plan import ReadBackMismatchError
from ansible_collections.vadp.vsphere.plugins.module_utils.transfer.vddk import SECTOR_SIZE, VddkError, VixDiskLib
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VsphereError

PLAN_VERSION = 1
ACCESS_IDENTITY = "vadp.vsphere"  # PrepareForAccess/EndAccess: at most 50 characters


def plan_id(plan):
    """What a checkpoint belongs to: the disks, their sources and extents."""
    return hashlib.sha256(json.dumps(plan["disks"], sort_keys=True).encode()).hexdigest()


def pieces(extents, piece_bytes, skip_bytes):
    """(offset, length, chunk, position in the extent) pieces of at most piece_bytes, after the
    first skip_bytes of the plan. An extent is [offset, length] or [offset, length, chunk hash]."""
    for extent in extents:
        start, total = extent[0], extent[1]
        chunk = extent[2] if len(extent) > 2 else None
        if skip_bytes >= total:
            skip_bytes -= total
            continue
        position, skip_bytes = skip_bytes, 0
        while position < total:
            n = min(piece_bytes, total - position)
            yield start + position, n, chunk, position
            position += n


def zeros_where_allocated(extents, allocated):
    """The plan with each zero extent ([offset, length, None]) cut to the areas the target holds
    data in: zeros must overwrite old data, and need not inflate a thin disk elsewhere."""
    result = []
    for extent in extents:
        if len(extent) < 3 or extent[2] is not None:
            result.append(extent)
            continue
        start, end = extent[0], extent[0] + extent[1]
        for a_start, a_length in allocated:
            low, high = max(start, a_start), min(end, a_start + a_length)
            if low < high:
                result.append([low, high - low, None])
    return result


class Progress:
    """Counters of the whole transfer, written to the status file by a background thread."""

    def __init__(self, plan, resumed):
        self.path = plan["status"]
        self.lock = threading.Lock()
        self.started = time.time()
        self.disks = {d["id"]: {"id": d["id"], "path": d["path"], "bytes_total": sum(e[1] for e in d["extents"]),
                                "bytes_done": resumed.get(d["id"], 0), "resumed_from": resumed.get(d["id"], 0),
                                "zero_bytes_skipped": 0, "bytes_verified": 0, "writes_started": False,
                                "state": "queued"} for d in plan["disks"]}
        self.state, self.error = "running", None
        self.cleanup = None  # VixDiskLib_Cleanup's answer at the start: leftovers of a killed run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mover-status", daemon=True)
        self._thread.start()

    def add(self, disk_id, n, skipped=False):
        with self.lock:
            self.disks[disk_id]["bytes_done"] += n
            if skipped:
                self.disks[disk_id]["zero_bytes_skipped"] += n

    def verified(self, disk_id, n):
        with self.lock:
            self.disks[disk_id]["bytes_verified"] += n

    def set(self, disk_id, **fields):
        with self.lock:
            self.disks[disk_id].update(fields)

    def writing(self, disk_id):
        """The first write (or metadata write) of a disk is about to be issued: say so in the
        status file at once, so that even a killed worker leaves the truth that the disk changed."""
        with self.lock:
            if self.disks[disk_id]["writes_started"]:
                return
            self.disks[disk_id]["writes_started"] = True
        write_json_atomically(self.path, self.snapshot(), durable=False)

    def snapshot(self):
        with self.lock:
            disks = [dict(d) for d in self.disks.values()]
        elapsed = max(time.time() - self.started, 1e-6)
        moved = sum(d["bytes_done"] - d["resumed_from"] for d in disks)
        done, total = sum(d["bytes_done"] for d in disks), sum(d["bytes_total"] for d in disks)
        rate = moved / elapsed
        return {"state": self.state, "error": self.error, "pid": os.getpid(), "updated": time.time(),
                "vddk_cleanup": self.cleanup,
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "bytes_done": done, "bytes_total": total, "seconds": round(elapsed, 3),
                "bytes_per_second": round(rate), "eta_seconds": round((total - done) / rate) if rate > 0 else None,
                "disks": disks}

    def _loop(self):
        while not self._stop.wait(0.5):
            write_json_atomically(self.path, self.snapshot(), durable=False)

    def finish(self, state, error=None):
        self.state, self.error = state, error
        self._stop.set()
        self._thread.join()
        write_json_atomically(self.path, self.snapshot(), durable=False)


class Checkpoint:
    """Per disk, how many bytes of its extents (in plan order) are written and flushed."""

    def __init__(self, plan):
        self.path, self.id = plan["checkpoint"], plan_id(plan)
        self.lock = threading.Lock()
        self.done = {}
        try:
            with open(self.path) as f:
                saved = json.load(f)
            if saved.get("plan_id") == self.id:
                self.done = saved["done_bytes"]
        except (OSError, ValueError):
            pass

    def save(self, disk_id, done_bytes):
        with self.lock:
            self.done[disk_id] = done_bytes
            write_json_atomically(self.path, {"plan_id": self.id, "done_bytes": self.done})

    def remove(self):
        try:
            os.remove(self.path)
        except OSError:
            pass


class DiskWriter:
    """Writes one disk's extents from its source: a reader thread ahead, VDDK writes in flight."""

    def __init__(self, plan, disk_plan, connection, progress, checkpoint):
        self.plan, self.disk_plan = plan, disk_plan
        self.connection, self.progress, self.checkpoint = connection, progress, checkpoint
        self.piece_bytes = plan.get("buffer_bytes", 2 << 20)
        self.in_flight = plan.get("in_flight", 4)
        self.free = queue.Queue()
        for _i in range(self.in_flight + 2):  # page-aligned, as direct I/O (SAN, UNBUFFERED) needs
            self.free.put(mmap.mmap(-1, self.piece_bytes))
        self.filled = queue.Queue(maxsize=self.in_flight + 1)

    def _source_reader(self):
        """A function (offset, length, chunk, position) -> bytes for the disk's source."""
        source = self.disk_plan["source"]
        if source["type"] == "raw":
            fd = os.open(source["path"], os.O_RDONLY)
            self._close_source = lambda: os.close(fd)
            return lambda offset, length, chunk, position: os.pread(fd, length, offset)
        if source["type"] == "files":  # extents carry [file number, file offset], or None for zeros
            fds = [os.open(path, os.O_RDONLY) for path in source["paths"]]
            self._close_source = lambda: [os.close(fd) for fd in fds]

            def from_file(offset, length, where, position):
                if where is None:
                    return bytes(length)
                data = os.pread(fds[where[0]], length, where[1] + position)
                if len(data) != length:  # the file shrank since it was planned: never write a short piece
                    raise OSError("%s: %d bytes at offset %d, %d expected" % (
                        source["paths"][where[0]], len(data), where[1] + position, length))
                return data
            return from_file
        if source["type"] == "repository":
            repository = Repository(source["path"])
            cache = {}

            def from_chunk(offset, length, chunk, position):
                if chunk is None:
                    return bytes(length)
                within = offset % repository.chunk_size  # extents may start inside a chunk (changed_only)
                if chunk not in cache:  # a chunk is read and checked once, then cut into pieces
                    cache.clear()
                    where = " (point %s, disk %s, offset %d)" % (source["point"], source["disk"], offset - within)
                    cache[chunk] = repository.get_chunk(chunk, where, rehash=source.get("verify", True))
                return cache[chunk][within:within + length]
            return from_chunk
        raise ValueError("unknown source type %r in the plan of disk %s" % (source["type"], self.disk_plan["id"]))

    def _read_source(self, skip):
        self._close_source = lambda: None
        try:
            read = self._source_reader()
            skip_zeros = self.disk_plan["source"].get("skip_zero_pieces")
            for offset, length, chunk, position in pieces(self.disk_plan["extents"], self.piece_bytes, skip):
                buffer = self.free.get()
                if buffer is None:
                    return
                data = read(offset, length, chunk, position)
                if skip_zeros and data.count(0) == len(data):  # fresh disk: zeros need no write
                    self.free.put(buffer)
                    self.filled.put((offset, length, None))
                    continue
                buffer[:length] = data
                self.filled.put((offset, length, buffer))
        except Exception as exc:  # noqa: BLE001 - handed to the writer, which reports it
            self.filled.put(exc)
            return
        finally:
            self._close_source()
        self.filled.put(None)

    def _read_back(self, disk, disk_id):
        """Read every piece of the plan back through VDDK and compare it with its source."""
        self._close_source = lambda: None
        read = self._source_reader()
        buffer = mmap.mmap(-1, self.piece_bytes)  # page aligned, as direct I/O needs
        self.progress.set(disk_id, state="verifying")
        try:
            for offset, length, chunk, position in pieces(self.disk_plan["extents"], self.piece_bytes, 0):
                view = (ctypes.c_char * length).from_buffer(buffer)
                disk.read(offset // SECTOR_SIZE, view, length // SECTOR_SIZE)
                del view
                expected = read(offset, length, chunk, position)
                if buffer[:length] != expected:
                    self.checkpoint.save(disk_id, 0)  # a re-run writes the whole disk again
                    raise ReadBackMismatchError("the disk does not hold what was written at offset %d (%d bytes): read back "
                                                "through VDDK, it differs from the source" % (offset, length))
                self.progress.verified(disk_id, length)
        finally:
            buffer.close()
            self._close_source()

    def _written(self, disk_id, buffer, length, error):
        """VDDK completed a write (on its thread): count it and free its buffer."""
        if error is None:
            self.progress.add(disk_id, length)
        self.free.put(buffer)

    def run(self):
        disk_id = self.disk_plan["id"]
        skip = self.checkpoint.done.get(disk_id, 0)
        self.progress.set(disk_id, state="running")
        disk = self.connection.open(self.disk_plan["path"], unbuffered=self.plan.get("unbuffered", False))
        try:
            self.progress.set(disk_id, transport=disk.transport_mode)
            if skip == 0:
                for key, value in sorted(self.disk_plan.get("metadata", {}).items()):
                    self.progress.writing(disk_id)
                    disk.write_metadata(key, value)  # metadata before data, as VDDK's restore sequence has it
            if self.disk_plan.get("zeros_where_allocated"):
                blocks = disk.allocated_blocks(chunk_sectors=128)
                if blocks is None:  # VDDK cannot tell: every zero of the point is written, nothing is left unknown
                    self.progress.set(disk_id, allocation_known=False)
                else:
                    allocated = [(o * SECTOR_SIZE, n * SECTOR_SIZE) for o, n in blocks]
                    self.disk_plan = dict(self.disk_plan, extents=zeros_where_allocated(self.disk_plan["extents"], allocated))
                    self.progress.set(disk_id, allocation_known=True,
                                      bytes_total=sum(e[1] for e in self.disk_plan["extents"]))
            reader = threading.Thread(target=self._read_source, args=(skip,), name="mover-read", daemon=True)
            reader.start()
            done, unflushed = skip, 0
            every = self.plan.get("checkpoint_every_bytes", 64 << 20)

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
                disk.write_async(offset // SECTOR_SIZE, view, length // SECTOR_SIZE,
                                 on_done=lambda _view, error, n=length, b=buffer: self._written(disk_id, b, n, error))
                del view
                done += length
                unflushed += length
                if unflushed >= every:
                    disk.flush()  # the checkpoint only counts bytes VDDK has written and flushed
                    self.checkpoint.save(disk_id, done)
                    unflushed = 0
            disk.flush()
            self.checkpoint.save(disk_id, done)
            if self.disk_plan.get("verify_after_write"):
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


# VDDK metadata the disk library owns: never saved, never replayed (vddk-abi.md).
OWNED_METADATA_PREFIXES = ("longContentID", "CID", "ctk", "encryption", "iofilter", "deletable")


class DiskReader:
    """Backs one disk up into a repository: whole chunks read through VDDK (read-only, through
    the backup's snapshot) while earlier ones are hashed, compressed and stored on other threads.
    The index starts as the parent's (an incremental) or all zeros (a full)."""

    def __init__(self, plan, disk_plan, connection, progress):
        self.plan, self.disk_plan, self.connection, self.progress = plan, disk_plan, connection, progress
        backup = disk_plan["backup"]
        self.repository = Repository(backup["repository"])
        self.chunk = self.repository.chunk_size
        self.piece = min(plan.get("buffer_bytes", 2 << 20), self.chunk)
        self.stats = {"chunks_read": 0, "new_chunks": 0, "reused_chunks": 0, "zero_chunks": 0, "stored_bytes": 0,
                      "bytes_read": 0}
        self.lock = threading.Lock()

    def _store(self, index, number, data):
        digest, stored = self.repository.put_chunk(data)
        with self.lock:
            index.entries[number] = digest
            key = "zero_chunks" if digest is None else ("new_chunks" if stored else "reused_chunks")
            self.stats[key] += 1
            self.stats["stored_bytes"] += stored

    def run(self):
        disk_id, backup = self.disk_plan["id"], self.disk_plan["backup"]
        capacity = backup["capacity"]
        count = -(-capacity // self.chunk)
        if backup.get("parent_index"):
            with open(backup["parent_index"], "rb") as f:
                parent = DiskIndex.from_bytes(f.read(), backup["parent_index"])
            entries = list(parent.entries) + [None] * max(0, count - len(parent.entries))
        else:
            entries = [None] * count
        index = DiskIndex(self.chunk, capacity, entries[:count])
        self.progress.set(disk_id, state="running")
        disk = self.connection.open(self.disk_plan["path"], read_only=True)
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mover-store")
        pending = []
        try:
            self.progress.set(disk_id, transport=disk.transport_mode)
            metadata = {k: disk.read_metadata(k) for k in disk.metadata_keys()
                        if not k.startswith(OWNED_METADATA_PREFIXES)}
            for number in backup["chunks"]:
                offset = number * self.chunk
                length = min(self.chunk, capacity - offset)
                data = mmap.mmap(-1, length)  # page aligned; released when stored
                for piece in range(0, length, self.piece):
                    n = min(self.piece, length - piece)
                    view = (ctypes.c_char * n).from_buffer(data, piece)
                    disk.read_async((offset + piece) // SECTOR_SIZE, view, n // SECTOR_SIZE)
                    del view
                disk.wait()
                pending.append(pool.submit(self._store, index, number, bytes(data)))
                data.close()
                while len(pending) > 2:  # hashing may lag the reads by two chunks, no more
                    pending.pop(0).result()
                self.stats["chunks_read"] += 1
                self.stats["bytes_read"] += length
                self.progress.add(disk_id, length)
            for future in pending:
                future.result()
        finally:
            pool.shutdown(wait=True)
            disk.close()
        write_index_file(backup["index_out"], index)
        self.progress.set(disk_id, state="done", metadata=metadata, stats=self.stats)


def _connect_params(plan, secrets):
    lib = VixDiskLib.load(plan["vddk"]["libdir"], plan["vddk"].get("config_file"))
    c = plan["connection"]
    return lib, lib.connect_params(server=c.get("server"), port=c.get("port", 443), user=c.get("user"),
                                   password=secrets.get("password"), cookie=secrets.get("cookie"),
                                   thumbprint=c.get("thumbprint"), vm_moref=c.get("vm_moref"))


def access(plan, secrets):
    """PrepareForAccess or EndAccess alone, for a caller that brackets more than one transfer
    (a backup: before its snapshot is taken, after it is removed)."""
    _lib, params = _connect_params(plan, secrets)
    try:
        if plan["access"] == "prepare":
            params.prepare_for_access(ACCESS_IDENTITY)
        else:
            params.end_access(ACCESS_IDENTITY)
    finally:
        params.free()
    return {"failed": False, "status": {}}


def run(plan, secrets):
    lib, params = _connect_params(plan, secrets)
    c = plan["connection"]
    checkpoint = Checkpoint(plan)
    progress = Progress(plan, checkpoint.done)
    errors = []
    prepared = False
    try:
        if c.get("server"):
            # what a killed earlier worker left (hot-added disks, mounts) is released before this one starts
            progress.cleanup = dict(zip(("cleaned", "remaining"), params.cleanup()))
        if c.get("vm_moref") and not plan.get("access_managed"):  # no Storage vMotion while the transfer runs
            params.prepare_for_access(ACCESS_IDENTITY)
            prepared = True
        connection = params.connect(read_only=bool(c.get("read_only")), snapshot_ref=c.get("snapshot_ref"),
                                    transports=c.get("transports"))
        try:
            slots = threading.Semaphore(plan.get("parallel_disks", 2))

            def one(disk_plan):
                with slots:
                    try:
                        if "backup" in disk_plan:
                            DiskReader(plan, disk_plan, connection, progress).run()
                        else:
                            DiskWriter(plan, disk_plan, connection, progress, checkpoint).run()
                    except Exception as exc:  # noqa: BLE001 - collected and reported below
                        progress.set(disk_plan["id"], state="failed", error=str(exc))
                        errors.append((disk_plan["id"], exc))

            threads = [threading.Thread(target=one, args=(d,), name="mover-disk-%s" % d["id"]) for d in plan["disks"]]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            connection.disconnect()
            if c.get("server"):
                params.cleanup()  # VDDK: Cleanup after Disconnect
    except Exception as exc:  # noqa: BLE001
        errors.append((None, exc))
    finally:
        if prepared:
            try:
                params.end_access(ACCESS_IDENTITY)
            except VddkError as exc:
                errors.append((None, exc))
        params.free()
    if errors:
        disk_id, exc = errors[0]
        text = str(exc) if isinstance(exc, (VddkError, OSError, VsphereError)) else "%s: %s" % (type(exc).__name__, exc)
        message = ("disk %s (%s): %s" % (disk_id, progress.disks[disk_id]["path"], text)) if disk_id else text
        progress.finish("failed", message)
        return {"failed": True, "error": message, "vddk_error": getattr(exc, "name", None),
                "error_type": type(exc).__name__, "error_code": getattr(exc, "error_code", None),
                "vddk_log": list(lib.recent_log)[-20:], "checkpoint": checkpoint.done, "status": progress.snapshot()}
    checkpoint.remove()
    progress.finish("done")
    return {"failed": False, "status": progress.snapshot()}


def main():
    plan_path = sys.argv[1]
    with open(plan_path) as f:
        plan = json.load(f)
    secrets = json.loads(sys.stdin.read() or "{}")
    log_path = plan.get("log")
    if log_path:
        logging.basicConfig(filename=log_path, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if plan.get("version") != PLAN_VERSION:
        result = {"failed": True, "error": "plan version %r, this worker runs version %d" % (plan.get("version"), PLAN_VERSION)}
    else:
        try:
            result = access(plan, secrets) if plan.get("access") else run(plan, secrets)
        except VddkError as exc:
            result = {"failed": True, "error": str(exc), "vddk_error": exc.name}
    if VixDiskLib._instance is not None:
        VixDiskLib._instance.exit()  # VDDK: Exit at the end
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    os._exit(1 if result["failed"] else 0)  # not sys.exit: VDDK's threads must not hold the exit up


if __name__ == "__main__":
    main()
