# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a repository's objects live: a folder (LocalStorage) or an S3 bucket (s3.S3Storage). Both
hold objects under '/'-separated keys relative to the repository's root, and both are write-once:
create never replaces an object that exists, so the same repository code runs on a bucket with
Object Lock (docs/restore-point-format.md, "On object storage"). No Ansible imports.
"""

import ctypes
import datetime
import os
import secrets
import shutil
from typing import Iterator, List, NamedTuple, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils import _files
from ansible_collections.vadp.vsphere.plugins.module_utils._repository import hardened
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import ObjectLockedError, storage_error

S3_SCHEME = "s3://"
# file systems whose syncfs is not known to make a client's writes durable on the server: there
# each object is fsynced as it is written (docs/restore-point-format.md, "Writing a point")
PER_OBJECT_SYNC_FILE_SYSTEMS = frozenset(("nfs", "nfs4", "cifs", "smb3", "fuse", "fuseblk", "9p"))
_libc = ctypes.CDLL(None, use_errno=True)


class StoredObject(NamedTuple):
    key: str
    size: int
    modified: float  # seconds since the epoch


def is_remote(location: str) -> bool:
    return location.startswith(S3_SCHEME)


def open_storage(location: str, s3: Optional[dict] = None, mode: int = 0o700):
    """The storage at location: s3://bucket/prefix (s3: how to reach it, see s3.S3Storage) or a
    folder."""
    if is_remote(location):
        from ansible_collections.vadp.vsphere.plugins.module_utils._repository.s3 import S3Storage
        return S3Storage(location, s3 or {})
    return LocalStorage(location, mode)


class LocalStorage:
    """A repository folder. Objects are created whole under a temporary name and linked into place,
    durable (fsync) before they count. Locked objects carry the immutable attribute (hardened.py)."""

    remote = False
    concurrency = 2  # chunks stored or read at once by a transfer: the two cores hash and compress

    def __init__(self, root: str, mode: int = 0o700):
        self.root, self.mode = root, mode
        self.location = root
        self._file_system = None

    @property
    def durable_chunks(self) -> bool:
        """Whether each chunk is fsynced as it is written (where syncfs is not enough), rather than
        all of them at once by sync() before the index that names them."""
        if self._file_system is None:
            self._file_system = file_system_type(self.root)
        return self._file_system in PER_OBJECT_SYNC_FILE_SYSTEMS

    def sync(self) -> None:
        """Make everything written in the repository's file system so far durable at once (syncfs):
        what a point's chunks, written without an fsync each, need before its index is written."""
        folder = self.root
        while not os.path.isdir(folder):
            folder = os.path.dirname(folder) or "."
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _libc.syncfs(fd) != 0:
                code = ctypes.get_errno()
                exc = OSError(code, os.strerror(code), folder)
                raise storage_error(exc, folder) or exc
        finally:
            os.close(fd)

    def check_object_lock(self) -> None:
        """Fail unless this folder can lock files (hardened mode): probed with a file of its own, in
        its locks/ folder, or for a new repository in the folder it will be made in."""
        folder = self.path("locks")
        while not os.path.isdir(folder):
            folder = os.path.dirname(folder) or "."
        hardened.check_available(os.path.join(folder, ".vadp-immutable-probe-%s.tmp" % secrets.token_hex(6)), self.root)

    def path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/")) if key else self.root

    def describe(self, key: str) -> str:
        return self.path(key)

    def read(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when there is none."""
        with open(self.path(key), "rb") as f:
            return f.read()

    def create(self, key: str, data: bytes, durable: bool = True, retain_until=None) -> bool:
        """Store data under key unless an object is there already (then False: never replaced); locked
        until retain_until when given."""
        path = self.path(key)
        temporary = "%s.tmp.%s" % (path, secrets.token_hex(6))
        try:
            try:
                _files.write_new_file(temporary, data, durable=durable)
            except FileNotFoundError:  # its folder is new: made only then, not looked for at every chunk
                self.make_folder(os.path.dirname(key))
                _files.write_new_file(temporary, data, durable=durable)
            try:
                os.link(temporary, path)
            finally:
                os.unlink(temporary)
        except FileExistsError:
            return False
        except OSError as exc:
            raise storage_error(exc, path) or exc
        if retain_until is not None:
            self.retain(key, retain_until)  # a crash before it leaves the file unlocked: the next writer that needs it locks it
        return True

    def retained_until(self, key: str) -> Optional[datetime.datetime]:
        """Until when the object is locked (None: not locked); FileNotFoundError when it is missing."""
        return hardened.locked_until(self.path(key))

    def retain(self, key: str, until: datetime.datetime) -> None:
        """Lock the object until `until` (a later date only: a lock is never shortened)."""
        try:
            hardened.lock(self.path(key), until)
        except OSError as exc:
            raise storage_error(exc, self.path(key)) or exc

    def exists(self, key: str) -> bool:
        return os.path.exists(self.path(key))

    def size(self, key: str) -> Optional[int]:
        try:
            return os.stat(self.path(key)).st_size
        except FileNotFoundError:
            return None

    def children(self, prefix: str) -> List[str]:
        """The names directly under prefix (a folder key), sorted."""
        try:
            return sorted(os.listdir(self.path(prefix)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def walk(self, prefix: str) -> Iterator[StoredObject]:
        """Every object under prefix, its leftovers (temporary files) included, in key order."""
        for name in self.children(prefix):
            key = "%s/%s" % (prefix, name) if prefix else name
            path = self.path(key)
            if os.path.isdir(path):
                yield from self.walk(key)
            else:
                try:
                    stat = os.stat(path)
                except FileNotFoundError:
                    continue
                yield StoredObject(key, stat.st_size, stat.st_mtime)

    def delete(self, key: str) -> None:
        """Delete the object (a locked one once its date has passed; before, ObjectLockedError)."""
        path = self.path(key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except PermissionError:
            until = hardened.unlock_expired(path)
            if until is not None:
                raise ObjectLockedError("%s is immutable until %s UTC (hardened mode): it cannot be deleted before then" % (
                    path, until.strftime("%Y-%m-%dT%H:%M:%SZ")), until)
            os.unlink(path)

    def delete_tree(self, prefix: str) -> None:
        for stored in list(self.walk(prefix)):  # each file as delete deletes it: a locked one stops the removal
            self.delete(stored.key)
        if os.path.isdir(self.path(prefix)):
            shutil.rmtree(self.path(prefix))

    def remove_empty_folder(self, prefix: str) -> bool:
        """Remove the folder of prefix if it is empty; whether it is gone."""
        try:
            os.rmdir(self.path(prefix))
        except FileNotFoundError:
            return True
        except OSError:
            return False  # not empty
        return True

    def make_folder(self, prefix: str) -> None:
        """Create the folder of prefix and its missing parents with the repository's mode
        (os.makedirs would give the parents the umask's)."""
        path, missing = self.path(prefix), []
        while path and not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        for folder in reversed(missing):
            try:
                os.mkdir(folder, self.mode)
            except FileExistsError:
                continue
            except OSError as exc:
                raise storage_error(exc, folder) or exc
            os.chmod(folder, self.mode)


def file_system_type(path: str) -> str:
    """The type (ext4, xfs, nfs4, ...) of the file system path is on, from /proc/self/mountinfo
    ("" when it cannot be told)."""
    path = os.path.realpath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    best, found = -1, ""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                mount_point = fields[4].replace("\\040", " ")
                fs_type = fields[fields.index("-") + 1]
                inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) > best:  # the deepest mount holding path (the last one mounted there wins)
                    best, found = len(mount_point), fs_type
                elif inside and len(mount_point) == best:
                    found = fs_type
    except (OSError, ValueError, IndexError):
        return ""
    return found
