# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cap on the disks moved at once through one ESXi host by the transfers of this machine.

vSphere's NFC service has a fixed memory on each host (48 MB, 96 MB on 8.0): about 50 disks in
parallel at most, shared by every backup product. Many VMs backed up at once (Ansible forks over an
inventory of VMs, async tasks) would pass it; each transfer takes one slot per disk it moves at
once before its worker starts, and holds them until the worker ends. A slot is an flock on a file
named after the host in the lock folder, so a killed transfer's slots free themselves; the
transfers of one machine (one AWX job and its forks) share them. No Ansible imports.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from typing import Callable, Iterator, List

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError


class HostBusyError(VadpError):
    error_code = "HOST_BUSY"


class HostSlots:
    """The slots of one host. A transfer takes what it needs all at once or nothing: a waiter holds
    no slot, so two waiters never hold each other up."""

    def __init__(self, lock_dir: str, host_key: str, limit: int, timeout: float = 24 * 3600, poll_seconds: float = 1.0):
        self.lock_dir, self.host_key, self.limit = lock_dir, host_key, limit
        self.prefix = os.path.join(lock_dir, "host-%s" % re.sub(r"[^A-Za-z0-9_.-]", "_", host_key))
        self.timeout, self.poll_seconds = timeout, poll_seconds  # a job's own timeout usually ends a wait first

    def _try(self, count: int) -> List:
        held = []
        for number in range(self.limit):
            slot = open("%s.%d.slot" % (self.prefix, number), "a")
            try:
                fcntl.flock(slot, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                slot.close()
                continue
            held.append(slot)
            if len(held) == count:
                return held
        for slot in held:
            slot.close()
        return []

    @contextlib.contextmanager
    def hold(self, count: int, on_wait: Callable[[str], None] = lambda message: None) -> Iterator[None]:
        """count slots (at most the limit) from when they are free to the end of the block; on_wait
        hears once that the slots are taken."""
        count = max(1, min(count, self.limit))
        os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)
        started = time.monotonic()
        held = self._try(count)
        if not held:
            on_wait("waiting for %d of the %d transfer slots of host %s (host_disk_limit): other backups and "
                    "restores from this machine are moving disks of VMs on that host" % (count, self.limit, self.host_key))
        while not held:
            if time.monotonic() - started >= self.timeout:
                raise HostBusyError("%d transfer slot(s) of host %s did not come free within %d s: other backups and "
                                    "restores from this machine hold all %d (host_disk_limit). Wait for them, or raise "
                                    "host_disk_limit if the host's NFC memory allows" % (
                                        count, self.host_key, self.timeout, self.limit))
            time.sleep(self.poll_seconds)
            held = self._try(count)
        try:
            yield
        finally:
            for slot in held:
                slot.close()
