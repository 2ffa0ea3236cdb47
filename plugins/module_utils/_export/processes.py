# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daemons an export or a datastore leaves running after the module returns (nbdkit, qemu-nbd,
nbdfuse, Ganesha), known by a pid in a record: alive, ended, their pid files read. No Ansible imports.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Optional


def alive(pid, program: bytes) -> bool:
    """Whether pid runs program: a pid reused by another program after a restart is not ours."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return program in f.read()
    except (OSError, TypeError):
        return False


def end(pid, program: bytes, grace: float = 30) -> None:
    """SIGTERM, then SIGKILL after grace seconds; returns once it is gone."""
    if not alive(pid, program):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid, program) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid, program):
        os.kill(pid, signal.SIGKILL)


def read_pid(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def wait_for_pid_file(path: str, timeout: float = 60) -> Optional[int]:
    """The pid a daemon writes once it runs, or None if none came within timeout. nbdkit's parent
    exits before its child writes the file: a daemon's exit status alone does not say it runs."""
    deadline = time.monotonic() + timeout
    pid = read_pid(path)
    while pid is None and time.monotonic() < deadline:
        time.sleep(0.05)
        pid = read_pid(path)
    return pid
