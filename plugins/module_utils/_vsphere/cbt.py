# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Changed block tracking: its effective state, and changes applied with the stun vSphere
needs. No Ansible imports."""


try:
    from pyVmomi import vim, vmodl
except ImportError:
    pass  # VsphereClient reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import disks_of
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VsphereError
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import wait_for_task

STUN_SNAPSHOT = "vadp-cbt-stun"


class ChangeIdInvalidError(VsphereError):
    """vSphere cannot answer what changed since a change id: CBT was reset or off since."""
    error_code = "CHANGE_ID_INVALID"


def effective(vm):
    """(fully on: configured and every disk has a change id, partly on: configured or any id)."""
    configured = bool(vm.config.changeTrackingEnabled)
    ids = [d["change_id"] for d in disks_of(vm.config)]
    return configured and all(ids), configured or any(ids)


def apply(vm, enabled, timeout):
    """Set changeTrackingEnabled and make it take effect: vSphere applies it at the next stun,
    so a snapshot is taken and removed at once."""
    wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(changeTrackingEnabled=enabled)), timeout=timeout)
    snapshot = wait_for_task(vm.CreateSnapshot_Task(STUN_SNAPSHOT, "vadp.vsphere: apply a CBT change", False, False),
                             timeout=timeout)
    wait_for_task(snapshot.RemoveSnapshot_Task(removeChildren=False), timeout=timeout)


def reset(vm, timeout):
    """Off, then on: every change id from before is void (after a restore CBT misreports until reset)."""
    apply(vm, False, timeout)
    apply(vm, True, timeout)


def changed_areas(vm, snapshot, key, change_id, capacity):
    """Every area QueryChangedDiskAreas reports, asked page after page from where the last
    answer ended until the whole disk is covered (one answer covers only part of a large disk)."""
    areas, offset = [], 0
    while offset < capacity:  # asking at the capacity itself is an InvalidArgument on vSphere
        try:
            info = vm.QueryChangedDiskAreas(snapshot=snapshot, deviceKey=key, startOffset=offset, changeId=change_id)
        except (vim.fault.FileFault, vmodl.fault.InvalidArgument) as fault:
            raise ChangeIdInvalidError(fault.msg or type(fault).__name__)
        areas += [(a.start, a.length) for a in info.changedArea or []]
        if info.length <= 0:
            break
        offset = info.startOffset + info.length
    return areas
