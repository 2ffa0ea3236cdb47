# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A vCenter task that moves disks (a Storage vMotion) shown as a transfer: its percentage, as
bytes of the disks, written to the status file of a state folder, which transfer_status follows
as it follows the data mover's. No Ansible imports.
"""

from __future__ import annotations

import os
import time
from typing import List, Optional, Tuple

from ansible_collections.vadp.vsphere.plugins.module_utils._files import write_json_atomically
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.progress import DiskStatus, TransferStatus


class TaskProgressFile:
    """disks: (id, file name, bytes) of each disk the task moves."""

    def __init__(self, state_dir: str, disks: List[Tuple[str, str, int]], message: str):
        os.makedirs(state_dir, exist_ok=True)
        self.path, self.disks, self.message = os.path.join(state_dir, "status.json"), disks, message
        self.started, self.percent = time.monotonic(), 0
        self.write("running", 0)

    def running(self, percent: int) -> None:
        self.write("running", percent)

    def write(self, state: str, percent: int, error: Optional[str] = None) -> None:
        """state: running, done or failed; percent: the task's."""
        self.percent = percent
        total = sum(size for _id, _path, size in self.disks)
        seconds = time.monotonic() - self.started
        done = -(-total * percent // 100)  # rounded up: the status reads back the task's own percentage
        rate = int(done / seconds) if seconds > 0 else 0
        status = TransferStatus(
            state=state, pid=os.getpid(), updated=time.time(), message=self.message, error=error, bytes_done=done,
            bytes_total=total, seconds=round(seconds, 1), bytes_per_second=rate,
            eta_seconds=int((total - done) / rate) if rate and state == "running" else None,
            disks=tuple(DiskStatus(id=i, path=p, bytes_total=size, bytes_done=-(-size * percent // 100), state=state)
                        for i, p, size in self.disks))
        write_json_atomically(self.path, status.to_json(), durable=False)
