# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore needs to know about a VM, as plain data: identity, placement, power, CBT, every
virtual disk with its *current* leaf file and the chain of parents below it, and the snapshot
tree with all its branches. No Ansible imports.
"""


try:
    from pyVmomi import vim
except ImportError:
    pass  # VsphereClient reports the missing library before any facts are read

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.lookup import datacenter_of, folder_path_of

# Checked in order: the SAS, PVSCSI and BusLogic classes are not subclasses of the LSI Logic one,
# but keeping specific before generic keeps this safe if pyVmomi ever changes that.
_CONTROLLER_TYPES = (
    ("VirtualLsiLogicSASController", "lsilogicsas", "scsi"),
    ("ParaVirtualSCSIController", "pvscsi", "scsi"),
    ("VirtualBusLogicController", "buslogic", "scsi"),
    ("VirtualLsiLogicController", "lsilogic", "scsi"),
    ("VirtualAHCIController", "sata", "sata"),
    ("VirtualNVMEController", "nvme", "nvme"),
    ("VirtualIDEController", "ide", "ide"),
)


def controller_type(controller):
    """(type, vmx bus prefix) of a controller device: ('pvscsi', 'scsi'), ('sata', 'sata'), ..."""
    for class_name, kind, prefix in _CONTROLLER_TYPES:
        if isinstance(controller, getattr(vim.vm.device, class_name)):
            return kind, prefix
    return type(controller).__name__.rsplit(".", 1)[-1], None


def _provisioning(backing):
    if isinstance(backing, vim.vm.device.VirtualDisk.FlatVer2BackingInfo):
        if backing.thinProvisioned:
            return "thin"
        return "eager_zeroed" if backing.eagerlyScrub else "lazy_zeroed"
    return None


def _backing_kind(backing):
    if isinstance(backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo):
        return "rdm"
    if isinstance(backing, vim.vm.device.VirtualDisk.FlatVer2BackingInfo):
        return "flat"
    if isinstance(backing, vim.vm.device.VirtualDisk.SeSparseBackingInfo):
        return "sesparse"
    if isinstance(backing, vim.vm.device.VirtualDisk.SparseVer2BackingInfo):
        return "sparse"
    return type(backing).__name__.rsplit(".", 1)[-1]


def disk_address(disk, devices_by_key):
    """The vmx address of a disk ("scsi0:1", "sata0:0", "nvme0:0", "ide0:0"), or None when its
    controller is not in devices_by_key (device key -> device)."""
    controller = devices_by_key.get(disk.controllerKey)
    _kind, prefix = controller_type(controller) if controller is not None else (None, None)
    bus = getattr(controller, "busNumber", None)
    return "%s%s:%s" % (prefix, bus, disk.unitNumber) if prefix and bus is not None else None


def disk_facts(disk, devices_by_key):
    """Facts of one VirtualDisk. ``devices_by_key`` maps device keys to devices (for the controller)."""
    backing = disk.backing
    controller = devices_by_key.get(disk.controllerKey)
    kind, prefix = controller_type(controller) if controller is not None else (None, None)
    bus = getattr(controller, "busNumber", None)
    parents = []
    parent = getattr(backing, "parent", None)
    while parent is not None:
        parents.append(parent.fileName)
        parent = getattr(parent, "parent", None)
    capacity = disk.capacityInBytes or (disk.capacityInKB or 0) * 1024
    rdm = None
    if isinstance(backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo):
        rdm = {
            "compatibility_mode": backing.compatibilityMode,
            "device_name": backing.deviceName,
            "lun_uuid": backing.lunUuid,
        }
    return {
        "key": disk.key,
        "label": disk.deviceInfo.label if disk.deviceInfo else None,
        "controller_key": disk.controllerKey,
        "controller_type": kind,
        "controller_bus_number": bus,
        "unit_number": disk.unitNumber,
        "address": disk_address(disk, devices_by_key),
        "capacity_bytes": capacity,
        "backing_type": _backing_kind(backing),
        "provisioning": _provisioning(backing),
        "file_name": backing.fileName,
        "parent_chain": parents,
        "base_file_name": parents[-1] if parents else backing.fileName,
        "datastore": backing.datastore.name if getattr(backing, "datastore", None) is not None else None,
        "disk_mode": getattr(backing, "diskMode", None),
        "sharing": getattr(backing, "sharing", None),
        "uuid": getattr(backing, "uuid", None),
        "change_id": getattr(backing, "changeId", None),
        "rdm": rdm,
    }


def disks_of(config):
    """Facts of every virtual disk in a VirtualMachineConfigInfo, in device key order."""
    devices = config.hardware.device if config and config.hardware else []
    by_key = {d.key: d for d in devices}
    return [disk_facts(d, by_key) for d in sorted(devices, key=lambda d: d.key)
            if isinstance(d, vim.vm.device.VirtualDisk)]


def snapshot_tree(snapshot_info):
    """The whole snapshot tree (every branch) as nested dicts, and the current snapshot's moref."""
    if snapshot_info is None:
        return [], None
    current = snapshot_info.currentSnapshot._moId if snapshot_info.currentSnapshot is not None else None

    def convert(node):
        return {
            "name": node.name,
            "moref": node.snapshot._moId,
            "id": node.id,
            "description": node.description,
            "created": node.createTime.isoformat() if node.createTime else None,
            "power_state": node.state,
            "quiesced": bool(node.quiesced),
            "current": node.snapshot._moId == current,
            "children": [convert(child) for child in node.childSnapshotList or []],
        }
    return [convert(root) for root in snapshot_info.rootSnapshotList or []], current


def vm_identity(vm):
    """The short form every module returns as ``vm``."""
    config = vm.config  # read once: each read of vm.config fetches the whole ConfigInfo from vCenter
    return {"name": vm.name, "moid": vm._moId, "uuid": config.uuid if config else None}


def _name_or_none(entity):
    return entity.name if entity is not None else None


def vm_facts(vm):
    """Everything vm_info returns, read from one VM."""
    config = vm.config
    runtime = vm.runtime
    host = runtime.host
    compute = host.parent if host is not None else None
    datacenter = datacenter_of(vm)
    snapshots, current_snapshot = snapshot_tree(vm.snapshot)
    identity = {
        "name": vm.name,
        "moid": vm._moId,
        "uuid": config.uuid,
        "instance_uuid": config.instanceUuid,
        "datacenter": _name_or_none(datacenter),
        "folder": folder_path_of(vm),
        "host": _name_or_none(host),
        "cluster": compute.name if isinstance(compute, vim.ClusterComputeResource) else None,
        "resource_pool": _name_or_none(vm.resourcePool),
        "vm_path_name": config.files.vmPathName if config.files else None,
        "guest_id": config.guestId,
        "firmware": config.firmware,
        "hardware_version": config.version,
        "template": bool(config.template),
        "power_state": runtime.powerState,
        "connection_state": runtime.connectionState,
        "consolidation_needed": bool(runtime.consolidationNeeded),
        "cbt_enabled": bool(config.changeTrackingEnabled),
    }
    return {
        "vm": identity,
        "disks": disks_of(config),
        "snapshots": snapshots,
        "current_snapshot": current_snapshot,
    }
