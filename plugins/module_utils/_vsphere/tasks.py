# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for vSphere tasks, and faults turned into sentences. No Ansible imports."""

import time

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import (
    PermissionDeniedError,
    TaskFailedError,
    TaskTimeoutError,
)

DEFAULT_TASK_TIMEOUT = 3600
_BASE_FAULT_PROPERTIES = frozenset(("msg", "faultCause", "faultMessage", "dynamicType", "dynamicProperty"))


def _fault_type_name(fault):
    name = type(fault).__name__
    # pyVmomi names fault classes "vim.fault.X"; the short name reads better in a sentence.
    return name.rsplit(".", 1)[-1]


def _simple_value(value):
    if isinstance(value, (str, int, float, bool)):
        return value
    moid = getattr(value, "_moId", None)
    if moid:
        return moid
    return None


def describe_fault(fault):
    """One readable sentence for a vmodl fault: its type, message, localized messages, the
    fault-specific properties that are plain values (existingState=poweredOn, name=...), and the
    cause behind it."""
    parts = [_fault_type_name(fault)]
    message = getattr(fault, "msg", None)
    if message:
        parts[0] += ": " + message.strip()
    details = []
    for localized in getattr(fault, "faultMessage", None) or []:
        text = (getattr(localized, "message", None) or getattr(localized, "key", "")).strip()
        if text and text not in details and text != message:
            details.append(text)
    properties = getattr(fault, "_GetPropertyList", lambda: [])()
    for prop in properties:
        if prop.name in _BASE_FAULT_PROPERTIES:
            continue
        value = _simple_value(getattr(fault, prop.name, None))
        if value not in (None, ""):
            details.append("%s=%s" % (prop.name, value))
    if details:
        parts.append("(%s)" % "; ".join(details))
    cause = getattr(fault, "faultCause", None)
    if cause is not None:
        parts.append("caused by " + describe_fault(cause))
    return " ".join(parts)


def permission_denied(exc):
    """The PERMISSION_DENIED error for a NoPermission fault vCenter raised (naming the privilege and
    the object), or None for any other exception (a lost session is NotAuthenticated, not this)."""
    names = [cls.__name__.rsplit(".", 1)[-1] for cls in type(exc).__mro__]
    if "NoPermission" not in names or "NotAuthenticated" in names:
        return None
    target = getattr(exc, "object", None)
    where = "%s %s" % (type(target).__name__.rsplit(".", 1)[-1], getattr(target, "_moId", "")) if target is not None else "an object"
    return PermissionDeniedError(
        "vCenter refused the call: the user lacks the privilege %s on %s. Add it to the user's role (docs/vsphere-rules.md, "
        "\"Privileges\"; vadp.vsphere.preflight names every missing one before a job starts)" % (exc.privilegeId, where),
        details={"privilege": exc.privilegeId, "object": getattr(target, "_moId", None)})


def _task_label(info):
    entity = info.entityName or (info.entity._moId if info.entity is not None else None)
    label = "Task %s (%s)" % (info.descriptionId or info.name or "?", info.key)
    if entity:
        label += " on '%s'" % entity
    return label


def wait_for_task(task, timeout=DEFAULT_TASK_TIMEOUT, on_progress=None, poll_interval=0.5,
                  max_poll_interval=5.0, clock=time.monotonic, sleep=time.sleep, on_poll=None):
    """Wait for ``task`` to finish and return its result.

    Raises TaskFailedError with the fault described in full, or TaskTimeoutError saying the task
    is still running in vCenter (a timeout abandons the wait, not the task). ``on_progress`` is
    called with the task's percentage whenever it changes; ``on_poll`` at every look at a task
    still running (to answer a question the VM asks, for instance).
    """
    deadline = clock() + timeout
    last_progress = None
    interval = poll_interval
    while True:
        info = task.info
        if info.state == "success":
            return info.result
        if info.state == "error":
            raise TaskFailedError(
                "%s failed: %s" % (_task_label(info), describe_fault(info.error)),
                details={"task": info.key, "fault": _fault_type_name(info.error)})
        if on_progress is not None and info.progress is not None and info.progress != last_progress:
            last_progress = info.progress
            on_progress(info.progress)
        if on_poll is not None:
            on_poll()
        remaining = deadline - clock()
        if remaining <= 0:
            progress = " at %s%%" % info.progress if info.progress is not None else ""
            raise TaskTimeoutError(
                "%s did not finish within %s s and is still %s%s in vCenter; it was not cancelled. "
                "Check it under Recent Tasks before running again, or raise the timeout."
                % (_task_label(info), timeout, info.state, progress),
                details={"task": info.key})
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, max_poll_interval)
