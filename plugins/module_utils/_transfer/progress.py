# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The worker's two state files: the status (progress, rewritten twice a second and at each
turn that matters) and the checkpoint (bytes written and flushed per disk, so a re-run resumes).
The status is typed (TransferStatus, DiskStatus) and checks itself when it is read back, by the
module that started the worker and by transfer_status. No Ansible imports.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import resource
import threading
import time
from typing import Dict, Optional, Tuple

from ansible_collections.vadp.vsphere.plugins.module_utils._files import read_json, write_json_atomically
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import TransferPlan
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError

TRANSFER_STATES = ("waiting", "running", "done", "failed")
DISK_STATES = ("queued", "running", "verifying", "closed", "done", "failed")


class StatusInvalidError(VadpError):
    """A status file that is not one a worker wrote (another tool's, or hand-edited)."""
    error_code = "TRANSFER_STATUS_INVALID"


def _build(cls, value, where, states, **fields):
    """Dataclass cls from the JSON object value (fields: values already converted), refusing what
    no worker writes: another field, a missing one, a state not in states."""
    if not isinstance(value, dict):
        raise StatusInvalidError("%s is not a JSON object" % where)
    unknown = sorted(set(value) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise StatusInvalidError("%s has fields a worker does not write: %s" % (where, ", ".join(unknown)))
    try:
        built = cls(**dict(value, **fields))
    except TypeError as exc:  # a field a worker always writes is missing
        raise StatusInvalidError("%s: %s" % (where, exc))
    if built.state not in states:
        raise StatusInvalidError("%s state %r is not one of %s" % (where, built.state, ", ".join(states)))
    return built


@dataclasses.dataclass
class DiskStatus:
    """One disk of a transfer, as the status file holds it."""
    id: str
    path: str
    bytes_total: int
    bytes_done: int = 0
    resumed_from: int = 0  # bytes the checkpoint of an earlier run had done
    zero_bytes_skipped: int = 0
    bytes_verified: int = 0
    writes_started: bool = False  # the disk may differ from before the transfer
    state: str = "queued"
    transport: Optional[str] = None  # the VDDK transport mode the disk was opened with
    allocation_known: Optional[bool] = None  # a write: whether the target's allocated areas could be read
    error: Optional[str] = None
    metadata: Optional[dict] = None  # a read: the disk's VDDK metadata
    stats: Optional[dict] = None  # a read: what the disk's chunks cost (chunks_read, new_chunks, stored_bytes, ...)

    @classmethod
    def from_json(cls, value, where="disk") -> "DiskStatus":
        return _build(cls, value, where, DISK_STATES)


@dataclasses.dataclass(frozen=True)
class TransferStatus:
    """The status file: the whole transfer and each of its disks (waiting: message says for what)."""
    state: str
    pid: int
    updated: float
    message: Optional[str] = None
    error: Optional[str] = None
    vddk_cleanup: Optional[dict] = None  # VixDiskLib_Cleanup's answer at the start
    vddk_calls: Dict[str, dict] = dataclasses.field(default_factory=dict)  # VDDK call -> count and seconds
    peak_rss_bytes: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    seconds: float = 0.0
    bytes_per_second: int = 0
    eta_seconds: Optional[int] = None
    disks: Tuple[DiskStatus, ...] = ()

    @classmethod
    def from_json(cls, value, where="status") -> "TransferStatus":
        disks = value.get("disks", []) if isinstance(value, dict) else []
        if not isinstance(disks, list):
            raise StatusInvalidError("%s disks is not a list" % where)
        return _build(cls, value, where, TRANSFER_STATES,
                      disks=tuple(DiskStatus.from_json(d, "%s disk %d" % (where, i)) for i, d in enumerate(disks)))

    @classmethod
    def read(cls, path) -> Optional["TransferStatus"]:
        """The status file at path; None when there is none (or it is being replaced)."""
        value = read_json(path)
        return None if value is None else cls.from_json(value, path)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def percent(self) -> int:
        return 100 * self.bytes_done // self.bytes_total if self.bytes_total else 0

    def disk(self, disk_id: str) -> DiskStatus:
        return next(d for d in self.disks if d.id == disk_id)


class Progress:
    """Counters of the whole transfer, written to the status file by a background thread."""

    def __init__(self, plan: TransferPlan, resumed: Dict[str, int], vddk_calls=None):
        self.path = plan.status
        self.lock = threading.Lock()
        self.started = time.time()
        self.disks = {d.id: DiskStatus(id=d.id, path=d.path, bytes_total=d.bytes_total(), bytes_done=resumed.get(d.id, 0),
                                       resumed_from=resumed.get(d.id, 0)) for d in plan.disks}
        self.state, self.error = "running", None
        self.vddk_calls = vddk_calls  # the binding's CallStats: VDDK call -> count and seconds
        self.cleanup = None  # VixDiskLib_Cleanup's answer at the start: leftovers of a killed run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mover-status", daemon=True)
        self._thread.start()

    def add(self, disk_id: str, n: int, skipped: bool = False) -> None:
        with self.lock:
            disk = self.disks[disk_id]
            disk.bytes_done += n
            if skipped:
                disk.zero_bytes_skipped += n

    def verified(self, disk_id: str, n: int) -> None:
        with self.lock:
            self.disks[disk_id].bytes_verified += n

    def set(self, disk_id: str, **fields) -> None:
        with self.lock:
            disk = self.disks[disk_id]
            for name, value in fields.items():
                if not hasattr(disk, name):
                    raise AttributeError("a disk's status has no field %s" % name)
                setattr(disk, name, value)

    def writing(self, disk_id: str) -> None:
        """The first write (or metadata write) of a disk is about to be issued: say so in the
        status file at once, so that even a killed worker leaves the truth that the disk changed."""
        with self.lock:
            if self.disks[disk_id].writes_started:
                return
            self.disks[disk_id].writes_started = True
        write_json_atomically(self.path, self.snapshot().to_json(), durable=False)

    def snapshot(self) -> TransferStatus:
        with self.lock:
            disks = tuple(dataclasses.replace(d) for d in self.disks.values())
            calls = self.vddk_calls.snapshot() if self.vddk_calls else {}
        elapsed = max(time.time() - self.started, 1e-6)
        moved = sum(d.bytes_done - d.resumed_from for d in disks)
        done, total = sum(d.bytes_done for d in disks), sum(d.bytes_total for d in disks)
        rate = moved / elapsed
        return TransferStatus(state=self.state, error=self.error, pid=os.getpid(), updated=time.time(),
                              vddk_cleanup=self.cleanup, vddk_calls=calls,
                              peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                              bytes_done=done, bytes_total=total, seconds=round(elapsed, 3), bytes_per_second=round(rate),
                              eta_seconds=round((total - done) / rate) if rate > 0 else None, disks=disks)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            write_json_atomically(self.path, self.snapshot().to_json(), durable=False)

    def finish(self, state: str, error: str = None) -> None:
        self.state, self.error = state, error
        self._stop.set()
        self._thread.join()
        write_json_atomically(self.path, self.snapshot().to_json(), durable=False)


def plan_id(plan: TransferPlan) -> str:
    """What a checkpoint belongs to: the disks, their sources and extents."""
    return hashlib.sha256(json.dumps(plan.to_json()["disks"], sort_keys=True).encode()).hexdigest()


class Checkpoint:
    """Per disk, how many bytes of its extents (in plan order) are written and flushed."""

    def __init__(self, plan: TransferPlan):
        self.path, self.id = plan.checkpoint, plan_id(plan)
        self.lock = threading.Lock()
        saved = read_json(self.path)
        self.done: Dict[str, int] = saved["done_bytes"] if isinstance(saved, dict) and saved.get("plan_id") == self.id else {}

    def save(self, disk_id: str, done_bytes: int) -> None:
        with self.lock:
            self.done[disk_id] = done_bytes
            write_json_atomically(self.path, {"plan_id": self.id, "done_bytes": self.done})

    def remove(self) -> None:
        try:
            os.remove(self.path)
        except OSError:
            pass
