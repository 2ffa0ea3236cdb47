# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore point repository (docs/restore-point-format.md): its settings (repository.json),
its key, its leases and verification, around its two parts - the chunk store (chunks.py) and the
point catalogue (points.py) - in a folder or a bucket (storage.py). No Ansible imports.
"""

import contextlib
import datetime
import json
import os
import re
import secrets

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository import crypto
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.chunks import HAS_ZSTD, MAX_CHUNK_SIZE, ChunkStore
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import (
    ChunkCorruptError,
    RepositoryError,
    storage_error,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import DEFAULT_LEASE_TIMEOUT, Lease
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.points import FORMAT_VERSION, READABLE_VERSIONS, PointCatalogue
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import is_remote, open_storage

REPOSITORY_FORMAT = "vadp-restore-points"  # repository.json's format, what makes a folder a repository
SETTINGS = "repository.json"
# A folder's chunks are 1 MiB: a changed_only restore reads and verifies whole chunks, so a finer
# chunk reads less for CBT's small changes. A bucket's are 4 MiB: each chunk is a request, paid for
# and waited on (docs/performance.md, "Chunk size").
DEFAULT_CHUNK_SIZE = 1 << 20
DEFAULT_BUCKET_CHUNK_SIZE = 4 << 20


def default_chunk_size(location: str) -> int:
    return DEFAULT_BUCKET_CHUNK_SIZE if is_remote(location) else DEFAULT_CHUNK_SIZE


# what Repository.create itself leaves in a folder it is creating (a concurrent create's files)
_CREATE_LEFTOVERS = re.compile(r"^(chunks|repository\.json\.tmp\.[0-9a-f]+(\.tmp\.[0-9a-f]+)?)$")


def refuse_foreign_folder(storage):
    """A repository is made only in a new or empty folder (or bucket prefix): never adopt another
    tool's data."""
    if not is_remote(storage.location) and os.path.lexists(storage.location) and not os.path.isdir(storage.location):
        raise RepositoryError("%s, or a folder above it, is a file: a repository needs a new or empty folder" % storage.location)
    entries = [e for e in storage.children("") if not _CREATE_LEFTOVERS.match(e)]
    if entries and not storage.exists(SETTINGS):  # (another backup may just have made it)
        listed = ", ".join(sorted(entries)[:5]) + (" ..." if len(entries) > 5 else "")
        raise RepositoryError("%s is not a restore point repository (no repository.json) and is not empty: it holds %s. "
                              "Give a new or empty folder for a new repository" % (storage.location, listed))


def _process_key(location):
    return location if is_remote(location) else os.path.realpath(location)


_GIVEN = {}  # what a worker process's module gave it for each repository: {"key": ..., "s3": ...} (remember)


def remember(location, master=None, s3=None):
    """Every Repository this process opens at location decrypts with master and reaches its object
    storage with s3 (the worker gets both through its secrets, never through a file)."""
    _GIVEN[_process_key(location)] = {"keys": crypto.RepositoryKeys(master) if master else None, "s3": s3}


class Repository:
    def __init__(self, location, key_file=None, s3=None, sealed=False):
        """location: a folder, or s3://bucket/prefix reached with s3 (s3.OPTIONS); key_file opens an
        encrypted repository, checked before anything is read. sealed: an encrypted repository
        opened without its key (self.sealed), whose objects can only be copied as they are stored."""
        given = _GIVEN.get(_process_key(location), {})
        self.location, self.s3 = location, s3 or given.get("s3")
        self.storage = open_storage(location, self.s3)
        try:
            self.settings = json.loads(self.storage.read(SETTINGS))
        except FileNotFoundError:
            raise RepositoryError("%s is not a restore point repository (it has no repository.json)" % location)
        except (OSError, ValueError) as exc:
            raise RepositoryError("%s is not a restore point repository (%s)" % (location, exc))
        if not isinstance(self.settings, dict) or self.settings.get("format") != REPOSITORY_FORMAT or \
                self.settings.get("version") not in READABLE_VERSIONS:
            settings = self.settings if isinstance(self.settings, dict) else {}
            raise RepositoryError("%s has format %r version %r; this collection reads vadp-restore-points versions %s" % (
                location, settings.get("format"), settings.get("version"), " and ".join(map(str, READABLE_VERSIONS))))
        self.chunk_size = self.settings["chunk_size"]
        self.storage.mode = int(self.settings.get("mode", "0700"), 8)
        self.keys = None
        self.sealed = sealed and "encryption" in self.settings and not key_file and not given.get("keys")
        if "encryption" in self.settings and not self.sealed:
            self.keys = given.get("keys") or crypto.RepositoryKeys.open(self.settings["encryption"], key_file, location)
        elif key_file:
            raise InvalidSettingsError("the repository %s is not encrypted, yet a key file was given: leave out "
                                       "encryption_key_file (and VADP_REPOSITORY_KEY_FILE), or use another repository" % location)
        self.chunks = ChunkStore(self.storage, self.keys)
        self.points = PointCatalogue(self.storage, self.chunk_size, self.keys)

    @property
    def encrypted(self):
        return "encryption" in self.settings

    @property
    def default_immutable_days(self):
        """Every point of this repository is immutable at least this long (fixed at its creation), or None."""
        return self.settings.get("immutable_days")

    def secrets(self):
        """What a worker process needs to open this repository (remember)."""
        given = {"repository_key": self.keys.master.hex()} if self.keys else {}
        if self.s3:
            given["repository_s3"] = self.s3
        return given

    @classmethod
    def create(cls, location, chunk_size=None, mode="0700", dry_run=False, key_file=None, s3=None,
               immutable_days=None):
        """Open the repository at location, creating it when there is none (encrypted with key_file
        when given; immutable_days: its default_immutable_days; chunk_size: default_chunk_size's
        when not given). With dry_run nothing is written: the checks run and None stands for the
        repository to be created."""
        storage = open_storage(location, s3, int(mode, 8))
        if not storage.exists(SETTINGS):
            refuse_foreign_folder(storage)
            chunk_size = default_chunk_size(location) if chunk_size is None else chunk_size
            if chunk_size < 65536 or chunk_size > MAX_CHUNK_SIZE or chunk_size & (chunk_size - 1):
                raise RepositoryError("chunk_size must be a power of two from 64 KiB to 64 MiB, not %d" % chunk_size)
            encryption = crypto.new_settings(key_file) if key_file else None  # a bad key file fails before any write
            if dry_run:
                return None
            storage.make_folder(ChunkStore.FOLDER)
            if not is_remote(location):
                try:
                    os.chmod(location, int(mode, 8))
                except OSError as exc:
                    raise storage_error(exc, location) or RepositoryError("%s: %s" % (location, exc))
            settings = {"format": REPOSITORY_FORMAT, "version": FORMAT_VERSION, "chunk_size": chunk_size,
                        "hash": "sha256", "compression": "zstd" if HAS_ZSTD else "none",
                        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "mode": mode}
            if encryption:
                settings["encryption"] = encryption
            if immutable_days:
                settings["immutable_days"] = immutable_days
            # written whole, once: a second backup starting at the same moment finds either no
            # settings or complete ones (and its own create then changes nothing)
            storage.create(SETTINGS, json.dumps(settings, indent=2).encode())
        return cls(location, key_file, s3)

    def lock_settings(self, lock):
        """Keep repository.json (the encryption's salt and key check, without which no point opens)
        locked as long as the objects of a point locked with lock."""
        if lock.needs(self.storage.retained_until(SETTINGS)):
            self.storage.retain(SETTINGS, lock.target)

    def check_writable(self):
        """Fail before a backup touches the VM when nothing can be written here."""
        probe = "%s/write-probe-%s.tmp" % (Lease.FOLDER, secrets.token_hex(6))  # where every short-lived object goes
        self.storage.create(probe, b"", durable=False)
        self.storage.delete(probe)

    @contextlib.contextmanager
    def lease(self, kind, operation, timeout=DEFAULT_LEASE_TIMEOUT, on_wait=lambda holders: None):
        """A shared (backup, restore) or exclusive (prune, garbage collection) lease on the whole
        repository, held for the `with` block; see locks.py."""
        lease = Lease(self.storage, kind, operation, timeout, on_wait)
        try:
            lease.acquire()
        except OSError as exc:
            raise storage_error(exc, self.storage.describe(Lease.FOLDER)) or RepositoryError(
                "the lease in %s cannot be written: %s" % (self.storage.describe(Lease.FOLDER), exc))
        try:
            yield lease
        finally:
            lease.release()

    # verification -------------------------------------------------------------------------
    def verify(self, manifest, deep=False):
        """Problems of one point: [{point, disk, offset, problem}] (empty when it is sound)."""
        problems = []
        for disk in manifest["disks"]:
            try:
                index = self.points.read_index(manifest, disk)
            except (RepositoryError, crypto.TamperedError) as exc:
                problems.append({"point": manifest["id"], "disk": disk["key"], "offset": None, "problem": str(exc)})
                continue
            missing = set() if deep else set(self.chunks.missing(e for e in index.entries if e is not None))
            for i, entry in enumerate(index.entries):
                if entry is None:
                    continue
                where = " (point %s, disk %s, offset %d)" % (manifest["id"], disk["key"], i * index.chunk_size)
                try:
                    if deep:
                        self.chunks.get(entry, where)
                    elif entry in missing:
                        raise ChunkCorruptError("chunk %s is missing%s" % (entry, where))
                except RepositoryError as exc:
                    problems.append({"point": manifest["id"], "disk": disk["key"], "offset": i * index.chunk_size,
                                     "problem": str(exc)})
        return problems
