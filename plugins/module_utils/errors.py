# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors: VadpError is the base of every coded error the collection raises, VsphereError
the base of the vSphere client layer's.

Each error carries a machine-readable ``error_code`` that modules return next to the message,
and optional ``details`` (plain data) that modules return as well. No Ansible imports.
"""


class VadpError(Exception):
    error_code = "VADP_ERROR"

    def __init__(self, message, details=None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class VsphereError(VadpError):
    """An error of the vSphere client layer (connection, lookup, tasks, power, snapshots)."""
    error_code = "VSPHERE_ERROR"


class InvalidSettingsError(VsphereError):
    error_code = "INVALID_ARGUMENT"


class ConnectionFailedError(VsphereError):
    error_code = "CONNECTION_FAILED"


class ConnectionTimeoutError(ConnectionFailedError):
    """The server accepted the connection but never answered."""
    error_code = "CONNECTION_TIMEOUT"


class TlsVerificationError(VsphereError):
    error_code = "TLS_VERIFY_FAILED"


class AuthenticationError(VsphereError):
    error_code = "AUTH_FAILED"


class ObjectNotFoundError(VsphereError):
    error_code = "NOT_FOUND"


class VmNotFoundError(ObjectNotFoundError):
    error_code = "VM_NOT_FOUND"


class AmbiguousObjectError(VsphereError):
    error_code = "AMBIGUOUS_NAME"


class VmAmbiguousError(AmbiguousObjectError):
    error_code = "VM_AMBIGUOUS"


class TaskFailedError(VsphereError):
    error_code = "TASK_FAILED"


class TaskTimeoutError(VsphereError):
    error_code = "TASK_TIMEOUT"


class InvalidPowerStateError(VsphereError):
    error_code = "INVALID_POWER_STATE"


class ToolsNotRunningError(VsphereError):
    error_code = "TOOLS_NOT_RUNNING"


class HeartbeatLostError(VsphereError):
    error_code = "HEARTBEAT_LOST"


class ShutdownTimeoutError(VsphereError):
    error_code = "SHUTDOWN_TIMEOUT"


class QuestionPendingError(VsphereError):
    error_code = "QUESTION_PENDING"


class SnapshotNotFoundError(VsphereError):
    error_code = "SNAPSHOT_NOT_FOUND"


class SnapshotAmbiguousError(VsphereError):
    error_code = "SNAPSHOT_AMBIGUOUS"


class CIDMismatchError(VsphereError):
    error_code = "CID_MISMATCH"


class RestoreRefusedError(VadpError):
    """A restore refused before anything was written (the base of the restore plan's refusals)."""
    error_code = "RESTORE_REFUSED"


class SourceUnalignedError(RestoreRefusedError):
    """A raw image or chain area does not fall on 512-byte sectors: VDDK writes whole sectors."""
    error_code = "SOURCE_UNALIGNED"


class PermissionDeniedError(VsphereError):
    """vCenter refused a call: the user lacks a privilege on an object (vim.fault.NoPermission)."""
    error_code = "PERMISSION_DENIED"


class PreflightFailedError(VadpError):
    """A preflight found what would make the job fail; nothing was changed."""
    error_code = "PREFLIGHT_FAILED"
