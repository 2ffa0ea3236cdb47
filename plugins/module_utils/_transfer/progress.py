# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The worker's two state files: the status (progress, rewritten twice a second and at each
turn that matters) and the checkpoint (bytes written and flushed per disk, so a re-run resumes).
No Ansible imports.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import threading
import time
from typing import Dict

from ansible_collections.vadp.vsphere.plugins.module_utils._files import read_json, write_json_atomically
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import TransferPlan


class Progress:
    """Counters of the whole transfer, written to the status file by a background thread."""

    def __init__(self, plan: TransferPlan, resumed: Dict[str, int], vddk_calls=None):
        self.path = plan.status
        self.lock = threading.Lock()
        self.started = time.time()
        self.disks = {d.id: {"id": d.id, "path": d.path, "bytes_total": d.bytes_total(),
                             "bytes_done": resumed.get(d.id, 0), "resumed_from": resumed.get(d.id, 0),
                             "zero_bytes_skipped": 0, "bytes_verified": 0, "writes_started": False,
                             "state": "queued"} for d in plan.disks}
        self.state, self.error = "running", None
        self.vddk_calls = vddk_calls  # the binding's CallStats: VDDK call -> count and seconds
        self.cleanup = None  # VixDiskLib_Cleanup's answer at the start: leftovers of a killed run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mover-status", daemon=True)
        self._thread.start()

    def add(self, disk_id: str, n: int, skipped: bool = False) -> None:
        with self.lock:
            self.disks[disk_id]["bytes_done"] += n
            if skipped:
                self.disks[disk_id]["zero_bytes_skipped"] += n

    def verified(self, disk_id: str, n: int) -> None:
        with self.lock:
            self.disks[disk_id]["bytes_verified"] += n

    def set(self, disk_id: str, **fields) -> None:
        with self.lock:
            self.disks[disk_id].update(fields)

    def writing(self, disk_id: str) -> None:
        """The first write (or metadata write) of a disk is about to be issued: say so in the
        status file at once, so that even a killed worker leaves the truth that the disk changed."""
        with self.lock:
            if self.disks[disk_id]["writes_started"]:
                return
            self.disks[disk_id]["writes_started"] = True
        write_json_atomically(self.path, self.snapshot(), durable=False)

    def snapshot(self) -> dict:
        with self.lock:
            disks = [dict(d) for d in self.disks.values()]
            calls = self.vddk_calls.snapshot() if self.vddk_calls else {}
        elapsed = max(time.time() - self.started, 1e-6)
        moved = sum(d["bytes_done"] - d["resumed_from"] for d in disks)
        done, total = sum(d["bytes_done"] for d in disks), sum(d["bytes_total"] for d in disks)
        rate = moved / elapsed
        return {"state": self.state, "error": self.error, "pid": os.getpid(), "updated": time.time(),
                "vddk_cleanup": self.cleanup, "vddk_calls": calls,
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "bytes_done": done, "bytes_total": total, "seconds": round(elapsed, 3),
                "bytes_per_second": round(rate), "eta_seconds": round((total - done) / rate) if rate > 0 else None,
                "disks": disks}

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            write_json_atomically(self.path, self.snapshot(), durable=False)

    def finish(self, state: str, error: str = None) -> None:
        self.state, self.error = state, error
        self._stop.set()
        self._thread.join()
        write_json_atomically(self.path, self.snapshot(), durable=False)


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
