# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The repository's coded errors, and the one it raises for a full or read-only file system.
No Ansible imports."""

import errno

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError


class RepositoryError(VadpError):
    error_code = "REPOSITORY_ERROR"


class PointNotFoundError(RepositoryError):
    error_code = "POINT_NOT_FOUND"


class ChunkCorruptError(RepositoryError):
    error_code = "CHUNK_CORRUPT"


class PointDamagedError(RepositoryError):
    """A point's manifest or index exists but cannot be used: the point is damaged, never merely absent."""
    error_code = "POINT_DAMAGED"


class RepositoryFullError(RepositoryError):
    error_code = "REPOSITORY_FULL"


class RepositoryReadOnlyError(RepositoryError):
    error_code = "REPOSITORY_READ_ONLY"


class RepositoryUnreachableError(RepositoryError):
    """Object storage that does not answer (refused, reset, timed out) after every retry."""
    error_code = "REPOSITORY_UNREACHABLE"


class RepositoryAccessDeniedError(RepositoryError):
    """Object storage that answers, but refuses these credentials."""
    error_code = "REPOSITORY_ACCESS_DENIED"


def storage_error(exc, path):
    """The repository's own error for an OSError met while writing path (full, read-only), or None."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return RepositoryFullError("the repository's file system is full (or over its quota) while writing %s: free "
                                   "space there or back up into another repository, then run the backup again" % path)
    if exc.errno == errno.EROFS:
        return RepositoryReadOnlyError("the repository's file system is read-only (writing %s): a backup needs a "
                                       "writable repository" % path)
    return None


class ImmutabilityUnavailableError(RepositoryError):
    """Immutable points asked of a repository that cannot hold them (a folder, a bucket without Object Lock)."""
    error_code = "IMMUTABILITY_UNAVAILABLE"


class PointImmutableError(RepositoryError):
    """A delete of a point whose retention lock has not ended."""
    error_code = "POINT_IMMUTABLE"


class ObjectLockedError(PointImmutableError):
    """A delete of one file of a hardened repository folder whose lock has not ended."""

    def __init__(self, message, until):
        super().__init__(message)
        self.until = until
