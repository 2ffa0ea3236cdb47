# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs a transfer plan in a worker process (transfer.worker) and watches it.

The worker loads VDDK; a native crash or a hang there becomes a TransferFailedError here that
names what happened and carries VDDK's last log lines, never a silent hang. The password goes to
the worker on stdin, not in the plan file. Works inside an AnsiballZ run: the worker gets this
process's sys.path, so it imports the same module_utils. No Ansible imports.
"""

import dataclasses
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from typing import Optional

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._files import read_json, write_json_atomically
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import (
    ChunkCorruptError,
    RepositoryAccessDeniedError,
    RepositoryFullError,
    RepositoryReadOnlyError,
    RepositoryUnreachableError,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.disk_writer import ReadBackMismatchError
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer import worker
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.local_dirs import default_lock_dir
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.progress import TransferStatus
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import (
    DEFAULT_PARALLEL_DISKS,
    ConnectParams,
    TransferPlan,
    VddkLibrary,
)

# Imported, not only named: an Ansible module's payload holds just the module_utils it imports.
WORKER = worker.__name__


# glibc gives each chunk-sized buffer fresh pages from mmap and returns them on free, so every
# chunk paid ~1000 page faults, and two threads faulting at once contend for the process's memory
# map (a restore's chunk reads took 2.5x longer). Kept in the heap instead, freed chunks' memory is
# reused; the worker's RSS stays at its peak working set (a few chunks, benchmarks/restore.py).
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(128 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}


class TransferFailedError(VadpError):
    error_code = "TRANSFER_FAILED"


# The worker's errors that say more than "the transfer failed": raised here as their own class.
# The plan's own refusal (PLAN_INVALID) is raised when the plan is built, before a worker starts.
_WORKER_ERRORS = {cls.error_code: cls for cls in (
    RepositoryFullError, RepositoryReadOnlyError, RepositoryUnreachableError, RepositoryAccessDeniedError, ChunkCorruptError,
    ReadBackMismatchError)}
# What DataMover.run raises for a transfer that started and failed; details say what was written.
TRANSFER_ERRORS = (TransferFailedError,) + tuple(_WORKER_ERRORS.values())


class TransferBusyError(VadpError):
    error_code = "TRANSFER_BUSY"


class StateDirError(VadpError):
    error_code = "STATE_DIR_UNUSABLE"


def _tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return [line.rstrip("\n") for line in f.readlines()[-lines:]]
    except OSError:
        return []


def _take_lock(path, what, advice):
    """An exclusive flock on path, held while the returned file is open; the holder's pid is
    written in it so a refusal can name it. A crashed holder's lock goes with its process."""
    lock = open(path, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise TransferBusyError("Another transfer (process %s) %s: a backup or restore of this VM is running. Wait for "
                                "it; %s." % (holder, what, advice))
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


class DataMover:
    """Runs one plan. ``state_dir`` holds the plan, checkpoint, status and VDDK log files;
    keep it across runs to resume."""

    def __init__(self, state_dir, stall_seconds=120, extra_env=None, vm_key=None, lock_dir=None, host_slots=None, disks=1):
        self.state_dir = state_dir
        self.stall_seconds = stall_seconds
        self.extra_env = extra_env or {}
        self.process = None
        self.stalled = False
        self._host_hold = None
        try:
            os.makedirs(state_dir, mode=0o700, exist_ok=True)
        except OSError as exc:  # a file in the way, a read-only or full file system
            raise StateDirError("the transfer's state folder %s cannot be made: %s; give a writable folder as state_dir"
                                % (state_dir, exc.strerror or exc))
        self._locks = [_take_lock(os.path.join(state_dir, "lock"), "is using %s" % state_dir,
                                  "give this one its own state_dir")]
        if vm_key:
            # one transfer per VM whatever the operation and state folder: a backup reading while a
            # restore writes the same disks would store a torn point
            lock_dir = lock_dir or default_lock_dir()
            os.makedirs(lock_dir, mode=0o700, exist_ok=True)
            try:
                self._locks.append(_take_lock(os.path.join(lock_dir, vm_key + ".lock"), "is moving the disks of VM %s"
                                              % vm_key, "a VM's backups and restores run one at a time"))
            except TransferBusyError:
                self.close()
                raise
        if host_slots is not None:
            # the slots of the VM's host, one per disk moved at once, held until close: a backup takes
            # them before its snapshot, so a VM never waits here with a snapshot growing on it
            self._host_hold = host_slots.hold(min(disks, DEFAULT_PARALLEL_DISKS), on_wait=self._waiting)
            try:
                self._host_hold.__enter__()
            except BaseException:
                self._host_hold = None
                self.close()
                raise

    def close(self):
        """Release the host's slots and the locks (also when this object goes away)."""
        if self._host_hold is not None:
            self._host_hold.__exit__(None, None, None)
            self._host_hold = None
        for lock in self._locks:
            lock.close()
        self._locks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def paths(self):
        return {name: os.path.join(self.state_dir, name + ext) for name, ext in
                (("plan", ".json"), ("checkpoint", ".json"), ("status", ".json"), ("log", ".log"))}

    def _waiting(self, message):
        """What transfer_status shows while the transfer waits for its host's slots."""
        waiting = TransferStatus(state="waiting", message=message, pid=os.getpid(), updated=time.time())
        write_json_atomically(self.paths()["status"], waiting.to_json(), durable=False)

    def run(self, plan: TransferPlan, secrets: dict) -> Optional[TransferStatus]:
        """Run plan (its state files are set here); return the finished transfer's status (None for
        an access plan, which moves no data)."""
        paths = self.paths()
        plan = dataclasses.replace(plan, checkpoint=paths["checkpoint"], status=paths["status"], log=paths["log"])
        write_json_atomically(paths["plan"], plan.to_json())
        # A status from an earlier transfer would look like progress; PrepareForAccess and EndAccess
        # move no data and leave the transfer's status for transfer_status to read.
        if plan.direction != "access" and os.path.exists(paths["status"]):
            os.remove(paths["status"])
        libdir = plan.vddk.libdir
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), **WORKER_MALLOC, **self.extra_env)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (os.path.join(libdir, "lib64"), env.get("LD_LIBRARY_PATH")) if p)
        stdout_path = os.path.join(self.state_dir, "worker.out")
        with open(stdout_path, "w") as out, open(os.path.join(self.state_dir, "worker.err"), "w") as err:
            # -S: no site customisation. Under ansible-core the module's sys.path (handed on as
            # PYTHONPATH, so the worker imports the same module_utils) can hold a sitecustomize that
            # is not the worker's business, and whose errors would blur a crash report.
            self.process = subprocess.Popen([sys.executable, "-S", "-m", WORKER, paths["plan"]], stdin=subprocess.PIPE,
                                            stdout=out, stderr=err, env=env, cwd=self.state_dir)
            self.process.stdin.write(json.dumps(secrets).encode())
            self.process.stdin.close()
            self._watch(paths)
        with open(stdout_path) as f:
            output = f.read()
        try:
            result = json.loads(output)
        except ValueError:
            result = None
        if self.process.returncode != 0 or result is None or result.get("failed"):
            raise self._failure(paths, result)
        return None if result["status"] is None else TransferStatus.from_json(result["status"], "the worker's result")

    def access(self, vddk: VddkLibrary, connection: ConnectParams, secrets: dict, prepare: bool) -> None:
        """PrepareForAccess (prepare) or EndAccess for the connection's VM, in a worker of its own."""
        self.run(TransferPlan("access", vddk, connection, access="prepare" if prepare else "end"), secrets)

    def _watch(self, paths):
        """Wait for the worker; kill it when no write completes for stall_seconds."""
        last_change, last_seen = time.monotonic(), None
        while self.process.poll() is None:
            time.sleep(0.2)
            status = read_json(paths["status"])  # as written: this loop only compares what it sees
            seen = status and (status.get("bytes_done"), status.get("state"))
            if seen != last_seen:
                last_change, last_seen = time.monotonic(), seen
            elif time.monotonic() - last_change > self.stall_seconds:
                self.process.kill()
                self.process.wait()
                self.stalled = True
                return

    def _failure(self, paths, result):
        log = _tail(paths["log"])
        status = read_json(paths["status"]) or {}
        checkpoint = read_json(paths["checkpoint"])
        details = {"vddk_log": (result or {}).get("vddk_log") or log, "checkpoint": checkpoint,
                   "status": status, "state_dir": self.state_dir, "worker_crashed": self.stalled or result is None}
        code = self.process.returncode
        if self.stalled:
            message = ("The data mover made no progress for %s s and was stopped (last: %s of %s bytes). VDDK's last "
                       "log lines: %s" % (self.stall_seconds, status.get("bytes_done"), status.get("bytes_total"),
                                          " | ".join(log[-5:]) or "none"))
        elif result is None:
            how = ("killed by signal %s" % signal.Signals(-code).name) if code < 0 else ("exit code %s" % code)
            message = ("The data mover's worker ended without a result (%s): a crash in VDDK or in the worker. "
                       "Its error output: %s. VDDK's last log lines: %s" % (
                           how, " | ".join(_tail(os.path.join(self.state_dir, "worker.err"), 5)) or "none",
                           " | ".join(log[-5:]) or "none"))
        else:
            details["vddk_error"] = result.get("vddk_error")
            message = "The transfer failed: %s" % result["error"]
        if checkpoint:
            message += (". What was written is in the checkpoint (%s); running the same transfer again resumes there"
                        % paths["checkpoint"])
        return _WORKER_ERRORS.get((result or {}).get("error_code"), TransferFailedError)(message, details=details)
