# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage vMotion of a running VM: its files and disks moved to another datastore of its host.
No Ansible imports."""

from __future__ import annotations

from typing import List, Tuple

try:
    from pyVmomi import vim
except ImportError:
    pass  # VsphereClient reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.placement import PlacementError
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import wait_for_task


def host_datastore(vm, name: str):
    """The datastore called name that the VM's host mounts (a move stays on the host)."""
    host = vm.runtime.host
    for datastore in host.datastore:
        if datastore.name == name:
            if not datastore.summary.accessible:
                raise PlacementError("datastore %s is not accessible from host %s" % (name, host.name))
            return datastore
    raise PlacementError("host %s, where %s runs, has no datastore %s (it has: %s)" % (
        host.name, vm.name, name, ", ".join(sorted(d.name for d in host.datastore))))


def files_on(vm, datastore_name: str) -> List[str]:
    """The VM's configuration file and disks that are on datastore_name."""
    prefix = "[%s]" % datastore_name
    disks = [d.backing.fileName for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    names = [vm.config.files.vmPathName] + disks
    return [n for n in names if n and n.startswith(prefix)]


def move_storage(vm, datastore, timeout: int, on_progress=None) -> None:
    """Move every file and disk of the (running) VM to datastore (on_progress: the task's percentage
    when it changes); TaskFailedError or TaskTimeoutError as wait_for_task raises them."""
    wait_for_task(vm.RelocateVM_Task(vim.vm.RelocateSpec(datastore=datastore)), timeout=timeout, on_progress=on_progress)


def disks_of(vm) -> List[Tuple[str, str, int]]:
    """(device key, file name, bytes) of each virtual disk of the VM."""
    return [(str(d.key), d.backing.fileName, d.capacityInBytes or d.capacityInKB * 1024) for d in vm.config.hardware.device
            if isinstance(d, vim.vm.device.VirtualDisk)]
