# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each job needs of vCenter, privilege by privilege and on which object
(docs/vsphere-rules.md, "Privileges", with VMware's sources), and which of them the session's
user lacks. No Ansible imports.
"""

from typing import Dict, List, NamedTuple

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError

# on: the VM itself, vCenter (its root folder), each datastore that holds (or will hold) the VM's
# files; for a VM still to be made, its folder (FOLDER, and NEW_VM: what the VM will need, which it
# inherits from its folder; RDM_FOLDER: the folder again, only when the VM maps RDMs), its resource
# pool and each network it joins
VM, VCENTER, DATASTORE, FOLDER, NEW_VM, POOL, NETWORK = "vm", "vcenter", "datastore", "folder", "new_vm", "pool", "network"
RDM_FOLDER = "rdm_folder"
NIC_VM = "nic_vm"  # the VM again, only when a restore disconnects its network cards


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
        Need("VirtualMachine.Config.EditDevice", NIC_VM, "its network cards are disconnected (full_restore_nics_connected)"),
    ) + _VDDK_ACCESS + _DATASTORE_FILES,
    "disaster_recovery": (
        Need("VirtualMachine.Inventory.Create", FOLDER, "CreateVM_Task makes the VM in its folder"),
        Need("VirtualMachine.Config.AddNewDisk", FOLDER, "CreateVM_Task makes its disks"),
        Need("VirtualMachine.Config.RawDevice", RDM_FOLDER, "CreateVM_Task maps its RDMs to LUNs (rdm_policy remap)"),
        Need("Resource.AssignVMToPool", POOL, "CreateVM_Task places it in the resource pool"),
        Need("Datastore.AllocateSpace", DATASTORE, "CreateVM_Task makes its files there"),
        Need("Network.Assign", NETWORK, "its network cards join the network"),
        Need("VirtualMachine.Config.EditDevice", NEW_VM, "the video card's settings are set after CreateVM_Task"),
        Need("VirtualMachine.Config.Settings", NEW_VM, "the boot order is set after CreateVM_Task"),
        Need("VirtualMachine.Config.ChangeTracking", NEW_VM, "CBT is turned on"),
        Need("VirtualMachine.State.CreateSnapshot", NEW_VM, "turning CBT on takes effect through a snapshot"),
        Need("VirtualMachine.State.RemoveSnapshot", NEW_VM, "which is removed at once"),
        Need("VirtualMachine.Provisioning.DiskRandomAccess", NEW_VM, "VDDK opens the new disks for writing"),
        Need("VirtualMachine.Interact.PowerOn", NEW_VM, "the recovered VM is powered on"),
        Need("VirtualMachine.Interact.PowerOff", NEW_VM, "a failed recovery's VM is powered off"),
        Need("VirtualMachine.Inventory.Delete", NEW_VM, "and deleted (on the VM and its folder)"),
        Need("VirtualMachine.Inventory.Delete", FOLDER, "a failed recovery's VM is deleted (on the VM and its folder)"),
        Need("VirtualMachine.Provisioning.PutVmFiles", VCENTER, "VDDK writes the VM's disks"),
    ) + _VDDK_ACCESS + _DATASTORE_FILES,
}
# a drill recovers each VM as a disaster recovery does (on the isolated network), then deletes it
JOBS["recovery_drill"] = JOBS["disaster_recovery"]
RECOVERY_JOBS = ("disaster_recovery", "recovery_drill")  # a VM still to be made: preflight's create option


def privileges_of(job: str) -> List[str]:
    """The privileges a vCenter role for job holds, sorted, each once."""
    if job not in JOBS:
        raise InvalidSettingsError("job must be one of %s, not %r" % (", ".join(sorted(JOBS)), job))
    return sorted({need.privilege for need in JOBS[job]})


def vm_objects(content, vm, edits_nics: bool = False) -> Dict[str, list]:
    """The objects a job on an existing VM needs privileges on, by kind."""
    return {VM: [vm], VCENTER: [content.rootFolder], DATASTORE: list(vm.datastore), NIC_VM: [vm] if edits_nics else []}


def placement_objects(content, placement: dict, datastores: list, networks: list, maps_rdms: bool) -> Dict[str, list]:
    """The objects a VM to be made needs privileges on, by kind (placement: find_placement's)."""
    return {VCENTER: [content.rootFolder], FOLDER: [placement["folder"]], NEW_VM: [placement["folder"]],
            RDM_FOLDER: [placement["folder"]] if maps_rdms else [], POOL: [placement["resource_pool"]],
            DATASTORE: datastores, NETWORK: networks}


def missing_privileges(content, job: str, objects: Dict[str, list]) -> List[dict]:
    """The needs of job that the session's user lacks, each with the object it lacks it on
    (AuthorizationManager.HasPrivilegeOnEntities: one request for every object and privilege)."""
    privileges_of(job)  # a job that is not one is refused
    entities = list({e._moId: e for kind in objects for e in objects[kind]}.values())
    wanted = sorted({need.privilege for need in JOBS[job]})
    answer = content.authorizationManager.HasPrivilegeOnEntities(
        entity=entities, sessionId=content.sessionManager.currentSession.key, privId=wanted)
    granted = {(entry.entity._moId, a.privId) for entry in answer for a in entry.privAvailability if a.isGranted}
    lacking = []
    for need in JOBS[job]:
        for entity in objects.get(need.on, []):
            if (entity._moId, need.privilege) not in granted:
                granted.add((entity._moId, need.privilege))  # named once, with the first reason
                lacking.append({"privilege": need.privilege, "object": entity.name,
                                "object_type": type(entity).__name__.rsplit(".", 1)[-1], "moid": entity._moId, "why": need.why})
    return lacking
