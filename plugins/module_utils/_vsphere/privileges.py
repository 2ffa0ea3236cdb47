# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each job needs of vCenter, privilege by privilege and on which object
(docs/vsphere-rules.md, "Privileges", with VMware's sources), and which of them the session's
user lacks. No Ansible imports.
"""

from typing import Dict, List, NamedTuple

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError

# on: the VM itself, vCenter (its root folder) or each datastore that holds the VM's files
VM, VCENTER, DATASTORE = "vm", "vcenter", "datastore"


class Need(NamedTuple):
    privilege: str
    on: str
    why: str


_VDDK_ACCESS = (
    Need("Global.DisableMethods", VCENTER, "VDDK's PrepareForAccess keeps vCenter from moving the disks during the transfer"),
    Need("Global.EnableMethods", VCENTER, "VDDK's EndAccess gives that back"),
)
_DATASTORE_FILES = (
    Need("Datastore.Browse", DATASTORE, "the VM's NVRAM file is read or written through the datastore"),
    Need("Datastore.FileManagement", DATASTORE, "the VM's NVRAM file is read or written through the datastore"),
)

JOBS: Dict[str, tuple] = {
    "backup": (
        Need("VirtualMachine.Config.ChangeTracking", VM, "the backup role turns CBT on"),
        Need("VirtualMachine.State.CreateSnapshot", VM, "a backup reads the disks through a snapshot"),
        Need("VirtualMachine.State.RemoveSnapshot", VM, "the backup's snapshot is removed when it ends"),
        Need("VirtualMachine.Provisioning.DiskRandomRead", VM, "VDDK opens the disks read-only; CBT is asked what changed"),
        Need("VirtualMachine.Provisioning.GetVmFiles", VCENTER, "VDDK reads the VM's disks (VDDK's 'Allow VM download')"),
    ) + _VDDK_ACCESS + _DATASTORE_FILES,
    "restore": (
        Need("VirtualMachine.Interact.PowerOff", VM, "the VM is powered off before its disks are written"),
        Need("VirtualMachine.Interact.PowerOn", VM, "and powered on again afterwards"),
        Need("VirtualMachine.State.CreateSnapshot", VM, "a temporary snapshot keeps the VM's state until the restore succeeds"),
        Need("VirtualMachine.State.RemoveSnapshot", VM, "it is removed when the restore succeeds"),
        Need("VirtualMachine.State.RevertToSnapshot", VM, "and reverted to when it fails"),
        Need("VirtualMachine.Config.ChangeTracking", VM, "CBT is reset after the disks were rewritten"),
        Need("VirtualMachine.Provisioning.DiskRandomAccess", VM, "VDDK opens the disks for writing"),
        Need("VirtualMachine.Provisioning.DiskRandomRead", VM, "a changed-only restore asks CBT what changed"),
        Need("VirtualMachine.Provisioning.PutVmFiles", VCENTER, "VDDK writes the VM's disks"),
    ) + _VDDK_ACCESS + _DATASTORE_FILES,
}


def privileges_of(job: str) -> List[str]:
    """The privileges a vCenter role for job holds, sorted, each once."""
    if job not in JOBS:
        raise InvalidSettingsError("job must be one of %s, not %r" % (", ".join(sorted(JOBS)), job))
    return sorted({need.privilege for need in JOBS[job]})


def missing_privileges(content, job: str, vm) -> List[dict]:
    """The needs of job that the session's user lacks, each with the object it lacks it on
    (AuthorizationManager.HasPrivilegeOnEntities: one request for every object and privilege)."""
    privileges_of(job)  # a job that is not one is refused
    objects = {VM: [vm], VCENTER: [content.rootFolder], DATASTORE: list(vm.datastore)}
    entities = [e for kind in (VM, VCENTER, DATASTORE) for e in objects[kind]]
    wanted = sorted({need.privilege for need in JOBS[job]})
    answer = content.authorizationManager.HasPrivilegeOnEntities(
        entity=entities, sessionId=content.sessionManager.currentSession.key, privId=wanted)
    granted = {(entry.entity._moId, a.privId) for entry in answer for a in entry.privAvailability if a.isGranted}
    lacking = []
    for need in JOBS[job]:
        for entity in objects[need.on]:
            if (entity._moId, need.privilege) not in granted:
                lacking.append({"privilege": need.privilege, "object": entity.name, "object_type": type(entity).__name__.rsplit(".", 1)[-1],
                                "moid": entity._moId, "why": need.why})
    return lacking
