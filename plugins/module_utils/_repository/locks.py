# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Repository leases (docs/retention.md, "Concurrency"): backups and restores hold a shared
lease, prune and garbage collection an exclusive one, as restic does. A lease is a file in
REPO/locks/ that works between hosts sharing the repository over NFS: it names its host and
process and is refreshed while held; a lease not refreshed for its lease time, or whose process
on this host is gone, is stale and does not count. No Ansible imports.
"""

import datetime
import errno
import json
import os
import random
import secrets
import socket
import threading
import time
from typing import Callable, List, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils._files import write_atomically, write_new_file
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError

SHARED, EXCLUSIVE = "shared", "exclusive"
LEASE_SECONDS = 300  # a crashed holder's lease stops counting this long after its last refresh
REFRESH_SECONDS = 60


# seconds a job waits for a lease before REPOSITORY_BUSY, unless told otherwise (lock_timeout)
DEFAULT_LEASE_TIMEOUT = 3600


class RepositoryBusyError(VadpError):
    error_code = "REPOSITORY_BUSY"


class LeaseLostError(VadpError):
    """The lease was found stale and removed by another process while this one held it."""
    error_code = "LEASE_LOST"


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def read_leases(folder, now=None):
    """(live, stale) leases in folder, each a dict with its 'file'."""
    now = now or _now()
    live, stale = [], []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        if not name.endswith(".json"):  # what a holder killed while writing left behind
            try:
                if now.timestamp() - os.stat(path).st_mtime > LEASE_SECONDS:
                    stale.append({"kind": "leftover", "operation": "temporary file", "file": path})
            except FileNotFoundError:
                pass
            continue
        try:
            with open(path) as f:
                lease = json.load(f)
            refreshed = _parse(lease["refreshed"])
            expired = (now - refreshed).total_seconds() > lease.get("lease_seconds", LEASE_SECONDS)
            dead = lease["host"] == socket.gethostname() and not _process_alive(lease["pid"])
        except FileNotFoundError:
            continue  # released while we looked
        except (OSError, ValueError, KeyError, TypeError):
            # not written by this collection (lease files are created whole): counts until it is old
            try:
                expired = now.timestamp() - os.stat(path).st_mtime > LEASE_SECONDS
            except FileNotFoundError:
                continue
            lease, dead = {"kind": "unknown", "operation": "unreadable lease file %s" % name}, False
        (stale if expired or dead else live).append(dict(lease, file=path))
    return live, stale


# a holder's refresh time further ahead of this host's clock than this: the hosts' clocks disagree
CLOCK_SKEW_SECONDS = 60


def describe(lease, now=None):
    text = "%s (%s lease of %s, pid %s, since %s)" % (lease.get("operation"), lease.get("kind"), lease.get("host"),
                                                      lease.get("pid"), lease.get("created"))
    try:
        ahead = (_parse(lease["refreshed"]) - (now or _now())).total_seconds()
    except (KeyError, TypeError, ValueError):
        return text
    if ahead > CLOCK_SKEW_SECONDS:
        text += (" - refreshed at %s, %d s ahead of this host's clock: the clocks of %s and this host disagree (clock "
                 "skew). Set them right; until this clock passes that time plus %s s, the lease counts even if its "
                 "holder is gone" % (lease["refreshed"], ahead, lease.get("host"), lease.get("lease_seconds", LEASE_SECONDS)))
    return text


def announce_waits(warn: Callable[[str], None]) -> Callable[[List[dict]], None]:
    """An on_wait for Lease that tells the user whom a run waits for."""
    return lambda holders: warn("waiting for the repository: %s" % "; ".join(describe(h) for h in holders))


class Lease:
    """A lease, taken and given back by Repository.lease. check() raises LeaseLostError
    when the lease is gone, so a holder can stop before it commits anything."""

    def __init__(self, folder: str, kind: str, operation: str, timeout: float = DEFAULT_LEASE_TIMEOUT,
                 on_wait: Callable[[List[dict]], None] = lambda holders: None):
        self.folder, self.kind, self.operation, self.timeout, self.on_wait = folder, kind, operation, timeout, on_wait
        self.path: Optional[str] = None
        self.stale_removed: List[dict] = []
        self._stop = threading.Event()
        self._refresher: Optional[threading.Thread] = None
        self._guard = threading.Lock()  # the acquiring thread and the refresher both touch path
        self._lost = False

    def _record(self):
        now = _stamp(_now())
        return {"kind": self.kind, "operation": self.operation, "host": socket.gethostname(), "pid": os.getpid(),
                "created": self._created, "refreshed": now, "lease_seconds": LEASE_SECONDS}

    def _conflicts(self, live):
        others = [lease for lease in live if lease["file"] != self.path]
        return others if self.kind == EXCLUSIVE else [lease for lease in others if lease["kind"] != SHARED]

    def acquire(self):
        """Write the lease, then look for conflicting ones. Two processes that do this at once
        both see each other, so two conflicting leases are never both held: a shared taker steps
        back from an exclusive lease; an exclusive taker steps back from another exclusive one
        (both retry at random moments) but keeps its file while it waits for shared holders to
        end, so new backups queue behind it and a prune is not starved by a stream of backups."""
        try:
            os.makedirs(self.folder, mode=0o700, exist_ok=True)
            self._probe()
        except OSError as exc:
            if self.kind == SHARED and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                return  # a repository this host may only read: nothing here can prune or collect it either
            raise
        deadline = time.monotonic() + self.timeout
        self._created = _stamp(_now())
        self._refresher = threading.Thread(target=self._refresh, name="vadp-lease", daemon=True)
        self._refresher.start()  # from the first write: a prune may wait longer than a lease lasts
        try:
            while True:
                if self.path is None:
                    with self._guard:
                        self.path = os.path.join(self.folder, "%s-%s.json" % (self.kind, secrets.token_hex(8)))
                        self._write_whole()
                live, stale = read_leases(self.folder)
                conflicts = self._conflicts(live)
                if not conflicts:
                    break
                if self.kind == SHARED or any(c["kind"] != SHARED for c in conflicts):
                    self._drop_file()
                if time.monotonic() >= deadline:
                    raise RepositoryBusyError(
                        "the repository %s is in use by %s; waited %d s. Run again when it ends, or raise lock_timeout; a "
                        "holder that crashed stops counting %d s after its last refresh" % (
                            os.path.dirname(self.folder), "; ".join(describe(c) for c in conflicts), self.timeout,
                            LEASE_SECONDS),
                        details={"holders": [{k: v for k, v in c.items() if k != "file"} for c in conflicts]})
                self.on_wait(conflicts)
                time.sleep(min(max(deadline - time.monotonic(), 0), random.uniform(1, 5)))
        except BaseException:
            self.release()
            raise
        if self.kind == EXCLUSIVE:  # nobody else holds the repository: stale leases can go
            for lease in stale:
                _remove(lease["file"])
            self.stale_removed = stale

    def _drop_file(self):
        with self._guard:
            _remove(self.path)
            self.path = None

    def _write_whole(self):
        """Create the lease file complete or not at all: a holder killed while writing it must not
        leave a file nobody can read (and so nobody can tell stale)."""
        temporary = self.path + ".tmp"
        write_new_file(temporary, json.dumps(self._record()).encode())
        try:
            os.link(temporary, self.path)
        finally:
            os.unlink(temporary)

    def _probe(self):
        probe = os.path.join(self.folder, "probe-%s.tmp" % secrets.token_hex(6))
        write_new_file(probe, b"", durable=False)
        os.unlink(probe)

    def _refresh(self):
        while not self._stop.wait(REFRESH_SECONDS):
            with self._guard:
                if self.path is None:
                    continue  # between two tries of acquire
                if not os.path.exists(self.path):
                    self._lost = True
                    return
                try:
                    write_atomically(self.path, json.dumps(self._record()).encode())
                except OSError:
                    pass  # the next refresh tries again; the lease time allows several misses

    @property
    def recorded(self):
        """False for a shared lease on a repository this host cannot write (nothing to hold)."""
        return self._refresher is not None

    def check(self):
        if self.recorded and (self._lost or self.path is None or not os.path.exists(self.path)):
            raise LeaseLostError("the %s lease on %s was removed while this run held it (it was taken for stale): "
                                 "nothing more is written; run again" % (self.kind, os.path.dirname(self.folder)))

    def release(self):
        self._stop.set()
        if self._refresher:
            self._refresher.join()  # a refresh under way would write the file again after its removal
        if self.path:
            self._drop_file()


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
