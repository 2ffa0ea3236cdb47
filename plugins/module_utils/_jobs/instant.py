# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Instant recovery (the instant_recovery module's work): a VM running from its restore point,
served as an NFS datastore by this host, before any copy is made; then either moved to production
storage while it runs (state moved) or discarded (state absent), the served datastore released
after either. Each step finds what an earlier run left, so a re-run goes on where one stopped.

The served datastore is named after the new VM (vadp-<vm name>), so that a discard finds it even
when the VM is already gone. No Ansible imports.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Callable, Dict, List, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils._export.nfs_datastore import PointDatastores
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.point_datastore import PointDatastoreJob, PointDatastoreOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.recreate import RecreateOptions, RecreateVm
from ansible_collections.vadp.vsphere.plugins.module_utils._recreate.config_spec import RECOVERY_MARK_KEY
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import DEFAULT_LEASE_TIMEOUT
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.task_progress import TaskProgressFile
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import vm_identity
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.lookup import find_vm
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.nas import find_nas, mount_nas, unmount_nas
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.placement import PlacementError, find_placement, find_vm_folder
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.power import power_on, wait_for_heartbeat, wait_for_tools
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.storage_move import disks_of, files_on, host_datastore, move_storage
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import wait_for_task
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import (TaskFailedError, TaskTimeoutError, VsphereError,
                                                                          VmNotFoundError)


@dataclasses.dataclass(frozen=True)
class InstantOptions:
    """The module's options of the same names (docs: ansible-doc vadp.vsphere.instant_recovery)."""
    name: str
    repository: Optional[str] = None
    source_vm: Optional[str] = None
    restore_point: str = "latest"
    state: str = "running"
    datacenter: Optional[str] = None
    folder: Optional[str] = None
    host: Optional[str] = None
    network_map: Optional[Dict[str, str]] = None
    network: Optional[str] = None
    nics_connected: bool = True
    instance_uuid: str = "new"
    bios_uuid: str = "keep"
    nfs_address: str = "127.0.0.1"
    nfs_port: int = 2049
    nfs_clients: List[str] = dataclasses.field(default_factory=list)
    datastores_dir: Optional[str] = None
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None
    lock_timeout: int = DEFAULT_LEASE_TIMEOUT
    timeout: int = 600
    datastore: Optional[str] = None  # state moved: the production datastore
    move_timeout: int = 86400
    state_dir: Optional[str] = None  # state moved: where the move's progress is written for transfer_status


class MoveFailedError(VsphereError):
    error_code = "MOVE_FAILED"


def datastore_name(vm_name: str) -> str:
    return "vadp-" + re.sub(r"[^A-Za-z0-9_.-]", "_", vm_name)[:180]


def mount_served(host, record: dict):
    """(the served datastore of record as host mounts it, whether it was mounted now)."""
    datastore = find_nas(host, record["remote_host"], record["remote_path"])
    if datastore is not None:
        return datastore, False
    return mount_nas(host, record["remote_host"], record["remote_path"], record["name"]), True


def served_disks(record: dict, datastore: str) -> Dict[int, str]:
    """{source disk key: the served descriptor's datastore path}, for RecreateOptions.existing_disks."""
    return {d["key"]: "[%s] %s" % (datastore, d["descriptor"]) for d in record["disks"]}


def release_served(datacenter, name: str, datastores_dir: Optional[str], check_mode: bool, steps: List[str]) -> Optional[dict]:
    """Unmount datastore name from every host, stop serving it and delete its overlays (no VM may
    use it any more); the served record, or None. Each step done is added to steps."""
    for datastore in [d for d in datacenter.datastore if d.name == name]:
        steps.append("datastore %s unmounted" % name)
        if not check_mode:
            unmount_nas(datastore)
    served = PointDatastores(datastores_dir).find(name)
    if served is not None:
        steps.append("datastore %s no longer served, its overlays deleted" % name)
        if not check_mode:
            PointDatastores(datastores_dir).stop(served)
    return served


class InstantRecovery:
    def __init__(self, client, options: InstantOptions, warn: Callable[[str], None] = lambda message: None):
        self.client, self.options, self.warn = client, options, warn

    def run(self, check_mode: bool = False) -> dict:
        run = {"absent": self._discard, "moved": self._move}.get(self.options.state, self._start)
        return run(check_mode)

    def _served(self, check_mode: bool) -> dict:
        o = self.options
        return PointDatastoreJob(PointDatastoreOptions(
            repository=o.repository, vm=o.source_vm, restore_point=o.restore_point, name=datastore_name(o.name),
            nfs_address=o.nfs_address, nfs_port=o.nfs_port, nfs_clients=tuple(o.nfs_clients), datastores_dir=o.datastores_dir,
            encryption_key_file=o.encryption_key_file, s3=o.s3, lock_timeout=o.lock_timeout)).run(check_mode)

    def _start(self, check_mode: bool) -> dict:
        o = self.options
        placement = find_placement(self.client.content, o.datacenter, o.folder, o.host)
        host = placement["host"]
        if host is None:
            raise PlacementError("give host: the point's datastore is mounted on one ESXi host, and the VM runs there")
        before = PointDatastores(o.datastores_dir).find(datastore_name(o.name))
        served = self._served(check_mode)
        record, changed = served["datastore"], served["changed"]
        step = "datastore served again (it was: %s)" % "; ".join(before["health"]) if before else "datastore served"
        result = {"changed": changed, "datastore": record, "vm": None, "steps": [step] if changed else []}
        if check_mode:
            running = self._recovered_vm()  # how the VM is now: a lost datastore shows as a red heartbeat
            return dict(result, changed=True, vm=vm_identity(running) if running else None,
                        heartbeat=running.guestHeartbeatStatus if running else None)
        datastore, mounted = mount_served(host, record)
        if mounted:
            result["steps"].append("datastore %s mounted on %s" % (datastore.name, host.name))
        created = RecreateVm(self.client, RecreateOptions(
            name=o.name, repository=o.repository, source_vm=o.source_vm, restore_point=record["point"],
            datacenter=o.datacenter, folder=o.folder, host=o.host, datastore=datastore.name, network_map=o.network_map,
            network=o.network, nics_connected=o.nics_connected, instance_uuid=o.instance_uuid, bios_uuid=o.bios_uuid,
            rdm_policy="skip", timeout=o.timeout, encryption_key_file=o.encryption_key_file, s3=o.s3,
            existing_disks=served_disks(record, datastore.name)), self.warn).run()
        if created["created"]:
            result["steps"].append("VM %s registered with the point's disks" % o.name)
        vm = find_vm(self.client.content, moid=created["vm"]["moid"])
        if vm.runtime.powerState != "poweredOn":
            power_on(vm, None, o.timeout)
            result["steps"].append("powered on")
        result["tools_seconds"] = wait_for_tools(vm, o.timeout)
        wait_for_heartbeat(vm, o.timeout)
        result.update(heartbeat=vm.guestHeartbeatStatus, vm=vm_identity(vm), ip_address=vm.guest.ipAddress,
                      notes=created["notes"], datastore=dict(record, vcenter_name=datastore.name),
                      changed=bool(result["steps"]))
        return result

    def _move(self, check_mode: bool) -> dict:
        """Storage vMotion of the running VM to o.datastore, then the served datastore released. A
        VM moved already (by an earlier run, or by hand) only has the datastore released."""
        o, name = self.options, datastore_name(self.options.name)
        vm = self._recovered_vm(moved_too=True)
        if vm is None:
            raise VmNotFoundError("no VM %s to move: run instant_recovery with state running first" % o.name)
        steps, seconds = [], None
        if files_on(vm, name):
            target = host_datastore(vm, o.datastore)
            steps.append("VM %s moved to datastore %s while it runs" % (vm.name, target.name))
            if not check_mode:
                seconds = self._move_storage(vm, target)
        served = self._release(name, check_mode, steps)
        return {"changed": bool(steps), "steps": steps, "vm": vm_identity(vm), "datastore": served, "move_seconds": seconds}

    def _move_storage(self, vm, target) -> float:
        o, name = self.options, datastore_name(self.options.name)
        kept = ("%s keeps running from datastore %s, and every write it made stays in its overlay on this host; the "
                "datastore is not released" % (vm.name, name))
        started = time.monotonic()
        progress = TaskProgressFile(o.state_dir, disks_of(vm), "moving %s to datastore %s" % (vm.name, target.name)) \
            if o.state_dir else None
        try:
            move_storage(vm, target, o.move_timeout, on_progress=progress.running if progress else None)
        except TaskTimeoutError as exc:
            raise self._move_failed(progress, "%s %s until the move ends: run again once it has" % (exc, kept), exc.details)
        except TaskFailedError as exc:
            raise self._move_failed(progress, "%s: %s. Fix the cause and run again" % (exc, kept), exc.details)
        left = files_on(vm, name)
        if left:
            raise self._move_failed(progress, "the move to %s ended but %s still uses %s: %s" % (
                target.name, vm.name, ", ".join(left), kept), None)
        if progress:
            progress.write("done", 100)
        return round(time.monotonic() - started, 1)

    @staticmethod
    def _move_failed(progress: Optional[TaskProgressFile], message: str, details) -> MoveFailedError:
        if progress:
            progress.write("failed", progress.percent, error=message)
        return MoveFailedError(message, details=details)

    def _discard(self, check_mode: bool) -> dict:
        """Power off and unregister the VM (its disks are the served files), unmount the datastore
        from every host, stop serving it and delete its overlays."""
        o = self.options
        steps = []
        vm = self._recovered_vm()
        if vm is not None:
            steps.append("VM %s powered off and unregistered" % vm.name)
            if not check_mode:
                if vm.runtime.powerState != "poweredOff":
                    wait_for_task(vm.PowerOffVM_Task(), timeout=o.timeout)
                vm.UnregisterVM()
        served = self._release(datastore_name(o.name), check_mode, steps)
        return {"changed": bool(steps), "steps": steps, "vm": None, "datastore": served}

    def _release(self, name: str, check_mode: bool, steps: List[str]) -> Optional[dict]:
        o = self.options
        datacenter, _folder = find_vm_folder(self.client.content, o.datacenter, o.folder)
        return release_served(datacenter, name, o.datastores_dir, check_mode, steps)

    def _recovered_vm(self, moved_too: bool = False):
        """The VM named o.name that an instant recovery made: it runs from the datastore named after
        it, or (moved_too) was moved from there."""
        o = self.options
        try:
            vm = find_vm(self.client.content, name=o.name, folder=o.folder, datacenter=o.datacenter)
        except VmNotFoundError:
            return None
        marked = any(option.key == RECOVERY_MARK_KEY for option in vm.config.extraConfig or [])
        on_ours = moved_too or any(ds.name == datastore_name(o.name) for ds in vm.datastore)
        if not (marked and on_ours):
            raise PlacementError("VM %s (%s) was not made by an instant recovery (it has no recovery mark, or does not run "
                                 "from datastore %s): it is left untouched" % (vm.name, vm._moId, datastore_name(o.name)))
        return vm
