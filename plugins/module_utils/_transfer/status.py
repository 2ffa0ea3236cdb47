# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a transfer's progress from outside the worker: the status file progress.py writes, a
line a person reads, and a bounded wait for the next thing worth showing. No Ansible imports.
"""

from __future__ import annotations

import json
import os
import time
from typing import Optional

from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.progress import TransferStatus

# The status file is rewritten twice a second; reading it five times a second sees every change.
_READ_INTERVAL = 0.2
FOLLOW_TIMEOUT = 86400  # seconds transfer_status follows a transfer at most, unless told otherwise
FOLLOW_WAIT = 60  # seconds between two progress lines while the transfer makes no step


def read_status(state_dir: str) -> Optional[TransferStatus]:
    """The status file as the worker last wrote it; None before a transfer started there."""
    return TransferStatus.read(os.path.join(state_dir, "status.json"))


def job_ended(results_file: str) -> bool:
    """Whether the async job behind results_file has ended: async_wrapper first writes
    {"started": 1, "finished": 0}, and the module's own result when it ends."""
    try:
        with open(results_file) as f:
            result = json.load(f)
    except (OSError, ValueError):
        return False  # not written yet, or being written
    return not result.get("started") or bool(result.get("finished"))


def finished(status: Optional[TransferStatus], results_file: Optional[str]) -> bool:
    """With the async job's results file: the job ended (whatever its outcome, even one that failed
    before its transfer started); without it: the status file says done or failed."""
    if results_file:
        return job_ended(results_file)
    return bool(status and status.state in ("done", "failed"))


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return "%.1f %s" % (n, unit) if unit != "B" else "%d B" % n
        n /= 1024.0


def summarize(status: Optional[TransferStatus]) -> str:
    """One line a person reads: state, bytes done of total, percent, rate, time left."""
    if status is None:
        return "not started"
    if status.state == "waiting":
        return "waiting: " + (status.message or "")
    text = "%s, %s of %s" % (status.state, _size(status.bytes_done), _size(status.bytes_total))
    if status.bytes_total:
        text += " (%d%%)" % status.percent
    if status.state == "running":
        text += ", %s/s" % _size(status.bytes_per_second)
        if status.eta_seconds is not None:
            text += ", about %s s left" % status.eta_seconds
    if status.error:
        text += ": " + status.error
    return text


def _state(status: Optional[TransferStatus]) -> Optional[str]:
    return status.state if status else None


def _percent(status: Optional[TransferStatus]) -> int:
    return status.percent if status else 0


def wait_for_news(state_dir: str, results_file: Optional[str], wait: float, step: int):
    """(status, finished) as soon as the transfer has ended, its state has changed (waiting,
    running) or its progress has reached the next multiple of step percent; at the latest after
    wait seconds (0: at once)."""
    status = read_status(state_dir)
    start_state, next_step = _state(status), (_percent(status) // step + 1) * step
    deadline = time.monotonic() + wait
    while True:
        done = finished(status, results_file)
        if done or _state(status) != start_state or _percent(status) >= next_step or time.monotonic() >= deadline:
            return status, done
        time.sleep(_READ_INTERVAL)
        status = read_status(state_dir)


def answer_news(state_dir: str, results_file: Optional[str], wait: float, step: int) -> dict:
    """transfer_status's answer (changed, status, finished, summary) once wait_for_news returns."""
    status, done = wait_for_news(state_dir, results_file, wait, step)
    return {"changed": False, "status": status.to_json() if status else None, "finished": done, "summary": summarize(status)}


def follow_silently(state_dir: str, results_file: Optional[str], timeout: float):
    """(status, finished) once the transfer has ended, or when timeout seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        status, done = wait_for_news(state_dir, results_file, max(0.0, deadline - time.monotonic()), 101)
        if done or time.monotonic() >= deadline:
            return status, done
