# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Repository leases (docs/retention.md, "Concurrency"): backups and restores hold a shared
lease, prune and garbage collection an exclusive one, as restic does. A lease is an object under
locks/ in the repository's storage, so it works between hosts sharing a folder over NFS or a
bucket: it names its host and process and is refreshed while held, each refresh a new generation
(locks/<kind>-<id>-<generation>.json, the older one deleted after), so no object is ever
overwritten; a lease not refreshed for its lease time, or whose process on this host is gone, is
stale and does not count. No Ansible imports.
"""

import datetime
import errno
import json
import os
import random
import re
import secrets
import socket
import threading
import time
from typing import Callable, List, Optional

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


FOLDER = "locks"
_GENERATION = re.compile(r"^(?P<lease>.+?)(-(?P<generation>\d{6}))?\.json$")


def read_leases(storage, now=None):
    """(live, stale) leases in storage's locks/, each a dict with its 'key' (its newest generation;
    older generations a crashed refresh left are stale)."""
    now = now or _now()
    live, stale, newest = [], [], {}
    for stored in storage.walk(FOLDER):
        name = stored.key.rpartition("/")[2]
        match = _GENERATION.match(name)
        if not match:  # what a holder killed while writing left behind
            if now.timestamp() - stored.modified > LEASE_SECONDS:
                stale.append({"kind": "leftover", "operation": "temporary file", "key": stored.key})
            continue
        generation = int(match.group("generation") or 0)
        previous = newest.get(match.group("lease"))
        if previous is not None:
            older = min(previous, (generation, stored), key=lambda found: found[0])
            stale.append({"kind": "superseded", "operation": "an older generation of a lease", "key": older[1].key})
            if generation < previous[0]:
                continue
        newest[match.group("lease")] = (generation, stored)
    for _generation, stored in newest.values():
        try:
            lease = json.loads(storage.read(stored.key))
            refreshed = _parse(lease["refreshed"])
            expired = (now - refreshed).total_seconds() > lease.get("lease_seconds", LEASE_SECONDS)
            dead = lease["host"] == socket.gethostname() and not _process_alive(lease["pid"])
        except FileNotFoundError:
            continue  # released (or refreshed) while we looked
        except (ValueError, KeyError, TypeError, AttributeError):
            # not written by this collection (lease objects are created whole): counts until it is old
            expired = now.timestamp() - stored.modified > LEASE_SECONDS
            lease, dead = {"kind": "unknown", "operation": "unreadable lease %s" % stored.key}, False
        (stale if expired or dead else live).append(dict(lease, key=stored.key))
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

    FOLDER = FOLDER

    def __init__(self, storage, kind: str, operation: str, timeout: float = DEFAULT_LEASE_TIMEOUT,
                 on_wait: Callable[[List[dict]], None] = lambda holders: None):
        self.storage, self.kind, self.operation, self.timeout, self.on_wait = storage, kind, operation, timeout, on_wait
        self.name: Optional[str] = None  # locks/<kind>-<id>, while this lease has an object
        self.generation = 0
        self.stale_removed: List[dict] = []
        self._stop = threading.Event()
        self._refresher: Optional[threading.Thread] = None
        self._guard = threading.Lock()  # the acquiring thread and the refresher both touch name
        self._lost = False

    @property
    def key(self) -> Optional[str]:
        """The object of this lease's current generation."""
        return None if self.name is None else "%s-%06d.json" % (self.name, self.generation)

    def _record(self):
        now = _stamp(_now())
        return {"kind": self.kind, "operation": self.operation, "host": socket.gethostname(), "pid": os.getpid(),
                "created": self._created, "refreshed": now, "lease_seconds": LEASE_SECONDS}

    def _conflicts(self, live):
        others = [lease for lease in live if lease["key"] != self.key]
        return others if self.kind == EXCLUSIVE else [lease for lease in others if lease["kind"] != SHARED]

    def acquire(self):
        """Write the lease, then look for conflicting ones. Two processes that do this at once
        both see each other, so two conflicting leases are never both held: a shared taker steps
        back from an exclusive lease; an exclusive taker steps back from another exclusive one
        (both retry at random moments) but keeps its object while it waits for shared holders to
        end, so new backups queue behind it and a prune is not starved by a stream of backups."""
        try:
            self._probe()
        except (OSError, VadpError) as exc:
            if self.kind == SHARED and _refused(exc):
                return  # a repository this host may only read: nothing here can prune or collect it either
            raise
        deadline = time.monotonic() + self.timeout
        self._created = _stamp(_now())
        self._refresher = threading.Thread(target=self._refresh, name="vadp-lease", daemon=True)
        self._refresher.start()  # from the first write: a prune may wait longer than a lease lasts
        try:
            while True:
                if self.name is None:
                    with self._guard:
                        self.name, self.generation = "%s/%s-%s" % (FOLDER, self.kind, secrets.token_hex(8)), 0
                        self.storage.create(self.key, json.dumps(self._record()).encode())
                live, stale = read_leases(self.storage)
                conflicts = self._conflicts(live)
                if not conflicts:
                    break
                if self.kind == SHARED or any(c["kind"] != SHARED for c in conflicts):
                    self._drop()
                if time.monotonic() >= deadline:
                    raise RepositoryBusyError(
                        "the repository %s is in use by %s; waited %d s. Run again when it ends, or raise lock_timeout; a "
                        "holder that crashed stops counting %d s after its last refresh" % (
                            self.storage.location, "; ".join(describe(c) for c in conflicts), self.timeout,
                            LEASE_SECONDS),
                        details={"holders": [{k: v for k, v in c.items() if k != "key"} for c in conflicts]})
                self.on_wait(conflicts)
                time.sleep(min(max(deadline - time.monotonic(), 0), random.uniform(1, 5)))
        except BaseException:
            self.release()
            raise
        if self.kind == EXCLUSIVE:  # nobody else holds the repository: stale leases can go
            for lease in stale:
                self.storage.delete(lease["key"])
            self.stale_removed = [lease for lease in stale if lease["kind"] != "superseded"]

    def _drop(self):
        with self._guard:
            if self.name is not None:
                self.storage.delete(self.key)
            self.name = None

    def _probe(self):
        probe = "%s/probe-%s.tmp" % (FOLDER, secrets.token_hex(6))
        self.storage.create(probe, b"", durable=False)
        self.storage.delete(probe)

    def _refresh(self):
        while not self._stop.wait(REFRESH_SECONDS):
            with self._guard:
                if self.name is None:
                    continue  # between two tries of acquire
                if not self.storage.exists(self.key):
                    self._lost = True
                    return
                try:  # the next generation first, then the older one goes: the lease never has no object
                    self.storage.create("%s-%06d.json" % (self.name, self.generation + 1), json.dumps(self._record()).encode())
                except (OSError, VadpError):
                    continue  # the next refresh tries again; the lease time allows several misses
                self.generation += 1
                try:
                    self.storage.delete("%s-%06d.json" % (self.name, self.generation - 1))
                except (OSError, VadpError):
                    pass  # a superseded generation: stale for every reader, removed by the next prune

    @property
    def recorded(self):
        """False for a shared lease on a repository this host cannot write (nothing to hold)."""
        return self._refresher is not None

    def check(self):
        if self.recorded and (self._lost or self.name is None or not self.storage.exists(self.key)):
            raise LeaseLostError("the %s lease on %s was removed while this run held it (it was taken for stale): "
                                 "nothing more is written; run again" % (self.kind, self.storage.location))

    def release(self):
        self._stop.set()
        if self._refresher:
            self._refresher.join()  # a refresh under way would write the object again after its removal
        try:
            self._drop()
        except (OSError, VadpError):
            pass  # storage gone: the job's own error is the one to report; the lease left stops counting on its own


def _refused(exc) -> bool:
    """Whether exc says this host may not write the repository (read-only, or not allowed)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    return exc.error_code in ("REPOSITORY_READ_ONLY", "REPOSITORY_ACCESS_DENIED")
