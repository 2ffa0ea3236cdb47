# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A repository folder's hardened mode (docs/restore-point-format.md, "Immutable points"): a
locked file carries the immutable attribute (FS_IOC_SETFLAGS, as `chattr +i` sets it), which
stops every change and delete until a caller with CAP_LINUX_IMMUTABLE lifts it, and the date it is
locked until in an extended attribute (which the attribute freezes with the file). No Ansible
imports.
"""

import array
import datetime
import errno
import fcntl
import os
from typing import Optional

from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import ImmutabilityUnavailableError

FS_IOC_GETFLAGS, FS_IOC_SETFLAGS = 0x80086601, 0x40086602  # linux/fs.h, on 64-bit Linux
FS_IMMUTABLE_FL = 0x00000010
RETENTION_ATTRIBUTE = "user.vadp.retain_until"  # seconds since the epoch, as decimal text
_UNSUPPORTED = (errno.ENOTTY, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS)


def _flags(fd: int) -> int:
    buffer = array.array("i", [0, 0])  # the kernel reads and writes an int; room for a long
    fcntl.ioctl(fd, FS_IOC_GETFLAGS, buffer, True)
    return buffer[0]


def _set_flag(path: str, on: bool) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        flags = _flags(fd)
        wanted = flags | FS_IMMUTABLE_FL if on else flags & ~FS_IMMUTABLE_FL
        if wanted != flags:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, array.array("i", [wanted, 0]), True)
    finally:
        os.close(fd)


def is_immutable(path: str) -> bool:
    """Whether the file carries the immutable attribute; FileNotFoundError when it is missing."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        return bool(_flags(fd) & FS_IMMUTABLE_FL)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return False
        raise
    finally:
        os.close(fd)


def _recorded_until(path: str) -> Optional[datetime.datetime]:
    try:
        return datetime.datetime.fromtimestamp(float(os.getxattr(path, RETENTION_ATTRIBUTE)), datetime.timezone.utc)
    except (OSError, ValueError):
        return None  # made immutable by other hands than this collection's: no date of ours


def locked_until(path: str) -> Optional[datetime.datetime]:
    """The date the file is locked until (None: it carries no lock of ours); FileNotFoundError when
    it is missing."""
    return _recorded_until(path) if is_immutable(path) else None


def lock(path: str, until: datetime.datetime) -> None:
    """Lock the file until `until`, or leave the later date it is locked to."""
    current = locked_until(path)
    if current is not None and current >= until:
        return
    _set_flag(path, False)  # the attribute freezes the extended attributes too
    os.setxattr(path, RETENTION_ATTRIBUTE, ("%d" % until.timestamp()).encode())
    _set_flag(path, True)


def unlock_expired(path: str, now: Optional[datetime.datetime] = None) -> Optional[datetime.datetime]:
    """Lift the lock of a file whose date has passed; the date it stays locked until, or None when
    it can be changed or deleted now."""
    if not is_immutable(path):
        return None
    until = _recorded_until(path)
    if until is None:  # never lifted: whoever set it decides
        raise PermissionError(errno.EPERM, "it is immutable, but not by this collection's lock: lift the attribute "
                                           "yourself (chattr -i) if it may go", path)
    if until > (now or datetime.datetime.now(datetime.timezone.utc)):
        return until
    _set_flag(path, False)
    return None


def check_available(probe: str, folder: str) -> None:
    """Fail unless a file at probe (a new file's path, in the repository) can be locked and unlocked
    here: the file system must have the attribute and user extended attributes, and the caller
    CAP_LINUX_IMMUTABLE (root has it)."""
    with open(probe, "wb"):
        pass
    try:
        try:
            os.setxattr(probe, RETENTION_ATTRIBUTE, b"0")
            _set_flag(probe, True)
            _set_flag(probe, False)
        except OSError as exc:
            raise ImmutabilityUnavailableError(_why_not(exc, folder))
    finally:
        try:
            _set_flag(probe, False)
        except OSError:
            pass
        os.unlink(probe)


def _why_not(exc: OSError, folder: str) -> str:
    if exc.errno == errno.EPERM:
        reason = ("setting the immutable attribute needs the capability CAP_LINUX_IMMUTABLE, which this process lacks: "
                  "run the module as root, or give its user that capability")
    elif exc.errno in _UNSUPPORTED:
        reason = "its file system does not support the immutable attribute or user extended attributes (ext4 and XFS do)"
    else:
        reason = "the immutable attribute cannot be set there (%s)" % exc.strerror
    return ("the repository folder %s cannot hold immutable points in hardened mode: %s. Use such a folder or a bucket "
            "with Object Lock, or leave out immutable_days" % (folder, reason))
