# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore point repository (docs/restore-point-format.md): its settings (repository.json),
its key, its leases and verification, around its two parts - the chunk store (chunks.py) and the
point catalogue (points.py). No Ansible imports.
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
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.writes import makedirs, write_new_file

REPOSITORY_FORMAT = "vadp-restore-points"  # repository.json's format, what makes a folder a repository
DEFAULT_CHUNK_SIZE = 4 << 20


# what Repository.create itself leaves in a folder it is creating (a concurrent create's files)
_CREATE_LEFTOVERS = re.compile(r"^(chunks|repository\.json\.tmp\.[0-9a-f]+(\.tmp\.[0-9a-f]+)?)$")


def _refuse_foreign_folder(path):
    """A repository is made only in a new or empty folder: never adopt another tool's data."""
    try:
        entries = [e for e in os.listdir(path) if not _CREATE_LEFTOVERS.match(e)]
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise RepositoryError("%s, or a folder above it, is a file: a repository needs a new or empty folder" % path)
    if entries and not os.path.exists(os.path.join(path, "repository.json")):  # (another backup may just have made it)
        listed = ", ".join(sorted(entries)[:5]) + (" ..." if len(entries) > 5 else "")
        raise RepositoryError("%s is not a restore point repository (no repository.json) and is not empty: it holds %s. "
                              "Give a new or empty folder for a new repository" % (path, listed))


_KEYS_BY_PATH = {}  # a worker process's keys, given to it by the module (remember_key)


def remember_key(path, master):
    """Every Repository this process opens at path decrypts with master (the worker gets the key
    through its secrets, not a key file)."""
    _KEYS_BY_PATH[os.path.realpath(path)] = crypto.RepositoryKeys(master)


class Repository:
    def __init__(self, path, key_file=None):
        """key_file opens an encrypted repository; it is checked before anything is read."""
        self.path = path
        try:
            with open(os.path.join(path, "repository.json")) as f:
                self.settings = json.load(f)
        except (OSError, ValueError) as exc:
            raise RepositoryError("%s is not a restore point repository (%s)" % (path, exc))
        if self.settings.get("format") != REPOSITORY_FORMAT or self.settings.get("version") not in READABLE_VERSIONS:
            raise RepositoryError("%s has format %r version %r; this collection reads vadp-restore-points versions %s" % (
                path, self.settings.get("format"), self.settings.get("version"), " and ".join(map(str, READABLE_VERSIONS))))
        self.chunk_size = self.settings["chunk_size"]
        self.mode = int(self.settings.get("mode", "0700"), 8)
        self.keys = None
        if "encryption" in self.settings:
            self.keys = _KEYS_BY_PATH.get(os.path.realpath(path)) or crypto.RepositoryKeys.open(
                self.settings["encryption"], key_file, path)
        elif key_file:
            raise InvalidSettingsError("the repository %s is not encrypted, yet a key file was given: leave out "
                                       "encryption_key_file (and VADP_REPOSITORY_KEY_FILE), or use another repository" % path)
        self.chunks = ChunkStore(path, self.mode, self.keys)
        self.points = PointCatalogue(path, self.chunk_size, self.mode, self.keys)

    @property
    def encrypted(self):
        return self.keys is not None

    def secrets(self):
        """What a worker process needs to open this repository (remember_key)."""
        return {"repository_key": self.keys.master.hex()} if self.keys else {}

    @classmethod
    def create(cls, path, chunk_size=DEFAULT_CHUNK_SIZE, mode="0700", dry_run=False, key_file=None):
        """Open the repository at path, creating it when the folder has none (encrypted with
        key_file when given). With dry_run nothing is written: the checks run and None stands for
        the repository to be created."""
        if not os.path.exists(os.path.join(path, "repository.json")):
            _refuse_foreign_folder(path)
            if chunk_size < 65536 or chunk_size > MAX_CHUNK_SIZE or chunk_size & (chunk_size - 1):
                raise RepositoryError("chunk_size must be a power of two from 64 KiB to 64 MiB, not %d" % chunk_size)
            encryption = crypto.new_settings(key_file) if key_file else None  # a bad key file fails before any write
            if dry_run:
                return None
            makedirs(os.path.join(path, "chunks"), int(mode, 8))
            try:
                os.chmod(path, int(mode, 8))
            except OSError as exc:
                raise storage_error(exc, path) or RepositoryError("%s: %s" % (path, exc))
            settings = {"format": REPOSITORY_FORMAT, "version": FORMAT_VERSION, "chunk_size": chunk_size,
                        "hash": "sha256", "compression": "zstd" if HAS_ZSTD else "none",
                        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "mode": mode}
            if encryption:
                settings["encryption"] = encryption
            # written whole beside it, then linked into place: a second backup starting at the same
            # moment finds either no file or a complete one, never a half-written one
            temporary = os.path.join(path, "repository.json.tmp.%s" % secrets.token_hex(6))
            write_new_file(temporary, json.dumps(settings, indent=2).encode())
            try:
                os.link(temporary, os.path.join(path, "repository.json"))
            except FileExistsError:
                pass  # another backup created it first
            finally:
                os.remove(temporary)
        return cls(path, key_file)

    def check_writable(self):
        """Fail before a backup touches the VM when nothing can be written here."""
        probe = os.path.join(self.path, "write-probe.tmp.%s" % secrets.token_hex(6))
        write_new_file(probe, b"")
        os.unlink(probe)

    @contextlib.contextmanager
    def lease(self, kind, operation, timeout=DEFAULT_LEASE_TIMEOUT, on_wait=lambda holders: None):
        """A shared (backup, restore) or exclusive (prune, garbage collection) lease on the whole
        repository, held for the `with` block; see locks.py."""
        lease = Lease(os.path.join(self.path, "locks"), kind, operation, timeout, on_wait)
        try:
            lease.acquire()
        except OSError as exc:
            raise storage_error(exc, lease.folder) or RepositoryError("the lease in %s cannot be written: %s" % (lease.folder, exc))
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
            for i, entry in enumerate(index.entries):
                if entry is None:
                    continue
                where = " (point %s, disk %s, offset %d)" % (manifest["id"], disk["key"], i * index.chunk_size)
                try:
                    if deep:
                        self.chunks.get(entry, where)
                    elif not self.chunks.has(entry):
                        raise ChunkCorruptError("chunk %s is missing%s" % (entry, where))
                except RepositoryError as exc:
                    problems.append({"point": manifest["id"], "disk": disk["key"], "offset": i * index.chunk_size,
                                     "problem": str(exc)})
        return problems
