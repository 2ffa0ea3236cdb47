# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VirtualMachineConfigSpec for CreateVM_Task from a saved VirtualMachineConfigInfo
with the overrides a restore elsewhere needs. Pure logic on pyVmomi objects: what the target
offers (datastores, networks, LUNs, hardware versions) is handed in as plain data by the caller.
No Ansible imports.
"""

import copy
import fnmatch
import re

try:
    from pyVmomi import vim
except ImportError:
    pass  # VsphereClient reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils._recreate.configinfo import ConfigInfoError
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import disk_address

# Devices every new VM has: a spec that adds them fails. The video card is one
# too on ESXi and in the simulator; its settings are applied to the new VM's own card afterwards.
DEFAULT_DEVICE_TYPES = ("VirtualIDEController", "VirtualPS2Controller", "VirtualPCIController", "VirtualSIOController",
                        "VirtualKeyboard", "VirtualVMCIDevice", "VirtualPointingDevice", "VirtualVideoCard")
DEFAULT_CONTROLLER_KEYS = (100, 200, 201, 300, 400)  # PCI, IDE 0 and 1, PS/2, SIO: the same in every VM

# extraConfig that vSphere writes itself, or that holds secrets or host-specific state.
DEFAULT_EXTRA_CONFIG_DENY = [
    "nvram", "svga.*", "pciBridge*", "*.pciSlotNumber", "virtualHW.*", "vmware.tools.*", "migrate.*", "monitor.*",
    "numa.autosize.*", "softPowerOff", "toolsInstallManager.*", "vmxstats.*", "sched.swap.derivedName",
    "sched.cpu.latencySensitivity", "viv.*", "vmotion.*", "guestinfo.*", "guestOS.detailed.data", "checkpoint.*",
    "vc.uuid", "uuid.*", "cpuid.coresPerSocket", "hpet0.present", "vmci0.*", "*ctkEnabled", "hostCPUID.*",
    "userCPUID.*", "guestCPUID.*", "featMask.*", "evcCompatibilityMode", "tools.guest.desktop.autolock",
]
REDACTED = "<redacted>"

# ConfigInfo fields copied as they are (when this pyVmomi knows them on both sides).
COPIED_FIELDS = ("guestId", "alternateGuestName", "annotation", "tools", "flags", "consolePreferences",
                 "memoryHotAddEnabled", "cpuHotAddEnabled", "cpuHotRemoveEnabled", "cpuAllocation", "memoryAllocation",
                 "latencySensitivity", "swapPlacement", "bootOptions", "firmware", "maxMksConnections",
                 "guestAutoLockEnabled", "memoryReservationLockedToMax", "nestedHVEnabled", "vPMCEnabled",
                 "migrateEncryption", "ftEncryptionMode", "sgxInfo", "vmxStatsCollectionEnabled", "npivTemporaryDisabled")
HARDWARE_FIELDS = {"numCPUs": "numCPU", "numCoresPerSocket": "numCoresPerSocket", "memoryMB": "memoryMB",
                   "virtualICH7MPresent": "virtualICH7MPresent", "virtualSMCPresent": "virtualSMCPresent"}  # spec: hardware
DATASTORE_PATH = re.compile(r"^\[([^\]]+)\]\s*(.*)$")


class ConfigSpecError(ConfigInfoError):
    """A config that reads but cannot become a spec (CONFIG_INVALID, like a config that does not read)."""


class NetworkNotFoundError(ConfigSpecError):
    error_code = "NETWORK_NOT_FOUND"


class HardwareVersionError(ConfigSpecError):
    error_code = "HW_VERSION_UNSUPPORTED"


class RdmPolicyError(ConfigSpecError):
    error_code = "RDM_POLICY"


class MapKeyUnknownError(ConfigSpecError):
    """A network_map or datastore_map key matches nothing in the config: a misspelling would
    otherwise leave a NIC on the production network, or disks on the production datastore."""
    error_code = "MAP_KEY_UNKNOWN"


# The mark a recreated VM carries: which source it is the recovery of (its extraConfig), so a
# later run can tell its own recovery from an unrelated VM of the same name.
RECOVERY_MARK_KEY = "vadp.recoveredFrom"
# On a drill's VM only, beside the recovery mark: the VM a drill made, so that the next drill removes
# its leftovers and never a VM recovered for use (which carries the recovery mark alone)
DRILL_MARK_KEY = "vadp.drillOf"


def _source_network(nic):
    """A NIC's network as network_map names it: the port group's name, or a DVS port group's key."""
    backing = nic.backing
    if isinstance(backing, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo):
        return backing.port.portgroupKey if backing.port else None
    return getattr(backing, "deviceName", None)


def check_map_keys(config, network_map, datastore_map):
    """Refuse map keys that name no network or datastore of the config, listing what it has."""
    networks = {_source_network(d) for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)}
    paths = [config.files.vmPathName if config.files else None] + [
        getattr(d.backing, "fileName", None) for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    datastores = {_datastore_of(p) for p in paths if p}
    for option, given, present in (("network_map", network_map, networks), ("datastore_map", datastore_map, datastores)):
        unknown = sorted(set(given or {}) - present)
        if unknown:
            raise MapKeyUnknownError("%s names %s, which the saved configuration does not use: it has %s. Check the "
                                     "spelling; nothing was created" % (
                                         option, ", ".join(map(repr, unknown)),
                                         ", ".join(sorted(repr(n) for n in present if n)) or "none"))


def _kind(obj):
    return type(obj).__name__.split(".")[-1]


def _is_default(device):
    return isinstance(device, tuple(getattr(vim.vm.device, name) for name in DEFAULT_DEVICE_TYPES))


def _datastore_of(path):
    match = DATASTORE_PATH.match(path or "")
    return match.group(1) if match else None


def _remap_path(path, datastore_map):
    """A file path with its datastore renamed by the map (an ISO, a floppy image, a serial file)."""
    match = DATASTORE_PATH.match(path or "")
    if not match or match.group(1) not in datastore_map:
        return path
    return "[%s] %s" % (datastore_map[match.group(1)], match.group(2))


def extra_config(options, deny, allow):
    """(the options kept, the keys dropped): denied keys and redacted values leave, allowed keys stay."""
    kept, dropped = [], []
    for option in options or []:
        allowed = any(fnmatch.fnmatchcase(option.key, p) for p in allow)
        denied = any(fnmatch.fnmatchcase(option.key, p) for p in deny) or option.value == REDACTED
        if denied and not allowed:
            dropped.append(option.key)
        else:
            kept.append(vim.option.OptionValue(key=option.key, value=option.value))
    return kept, dropped


def cpu_feature_mask(masks):
    """HostCpuIdInfo entries as the ArrayUpdateSpec entries a ConfigSpec takes (operation add)."""
    return [vim.vm.ConfigSpec.CpuIdInfoSpec(operation="add", info=mask) for mask in masks or []]


def vapp_spec(vapp):
    """A VmConfigSpec carrying a VmConfigInfo's products, properties, OVF sections and settings."""
    if vapp is None:
        return None
    return vim.vApp.VmConfigSpec(
        product=[vim.vApp.ProductSpec(operation="add", info=p) for p in vapp.product or []],
        property=[vim.vApp.PropertySpec(operation="add", info=p) for p in vapp.property or []],
        ovfSection=[vim.vApp.OvfSectionSpec(operation="add", info=s) for s in vapp.ovfSection or []],
        ipAssignment=vapp.ipAssignment, eula=list(vapp.eula or []),
        ovfEnvironmentTransport=list(vapp.ovfEnvironmentTransport or []),
        installBootRequired=vapp.installBootRequired, installBootStopDelay=vapp.installBootStopDelay)


def _version_number(version):
    return int(version.rsplit("-", 1)[-1])


def hardware_version(source, supported, policy):
    """The version to create: the source's, or with policy 'lower' the highest the host runs below it."""
    numbers = sorted(set(_version_number(v) for v in supported or []))
    if not numbers or _version_number(source) in numbers:
        return source, None
    lower = [n for n in numbers if n < _version_number(source)]
    if policy == "lower" and lower:
        chosen = "vmx-%02d" % lower[-1]
        return chosen, "hardware version lowered from %s to %s (the host runs %s at most)" % (source, chosen, chosen)
    raise HardwareVersionError("the target host cannot create a %s VM (it offers vmx-%s): set hardware_version: lower, "
                               "or choose another host" % (source, ", vmx-".join(str(n) for n in numbers)))


# What vCenter refuses in a new VM (vSphere 8 configuration maximums): checked first, so that a
# damaged or hand-edited saved configuration fails naming its field, before anything is created.
NAME_MAX = 80  # characters of the name as vCenter stores it ('%', '/' and '\' escaped as %25, %2f, %5c)
MAX_CPUS = 768
MEMORY_MB = (4, 24 << 20)  # 4 MB to 24 TB, in steps of 4 MB


def check_name(name):
    stored = len(name) + 2 * sum(name.count(c) for c in "%/\\")
    if not name or stored > NAME_MAX:
        raise ConfigSpecError("name %r is %s: vCenter takes names of 1 to %d characters ('%%', '/' and '\\' count "
                              "three each)" % (name, "empty" if not name else "%d characters long as vCenter stores it" % stored,
                                               NAME_MAX))


def check_config(config):
    """Refuse a config that cannot become a spec, or that vCenter would refuse, naming the field,
    before anything is created."""
    if config.hardware is None or not config.hardware.device:
        raise ConfigSpecError("config.hardware.device: the config has no devices")
    hardware = config.hardware
    if not 1 <= (hardware.numCPU or 0) <= MAX_CPUS:
        raise ConfigSpecError("config.hardware.numCPU: %s virtual CPUs; a VM has 1 to %d" % (hardware.numCPU, MAX_CPUS))
    if hardware.numCoresPerSocket and hardware.numCPU % hardware.numCoresPerSocket:
        raise ConfigSpecError("config.hardware.numCoresPerSocket: %d CPUs cannot be grouped in sockets of %d cores" % (
            hardware.numCPU, hardware.numCoresPerSocket))
    low, high = MEMORY_MB
    if not low <= (hardware.memoryMB or 0) <= high or hardware.memoryMB % 4:
        raise ConfigSpecError("config.hardware.memoryMB: %s MB; a VM has %d MB to %d MB, a multiple of 4 MB" % (
            hardware.memoryMB, low, high))
    seen = set()
    for index, device in enumerate(hardware.device):
        if device.key in seen:
            raise ConfigSpecError("config.hardware.device[%d] (%s): key %s is also another device's; each device has a "
                                  "key of its own" % (index, _kind(device), device.key))
        seen.add(device.key)
    keys = set(DEFAULT_CONTROLLER_KEYS) | seen
    for index, device in enumerate(config.hardware.device):
        where = "config.hardware.device[%d] (%s, key %s)" % (index, _kind(device), device.key)
        if device.controllerKey is not None and device.controllerKey not in keys:
            raise ConfigSpecError("%s.controllerKey: %s is a key no device defines" % (where, device.controllerKey))
        if isinstance(device, vim.vm.device.VirtualDisk) and not (device.capacityInBytes or device.capacityInKB):
            raise ConfigSpecError("%s: a disk without capacityInKB or capacityInBytes" % where)


class SpecBuilder:
    """Builds the spec. target: {"datastore": name for the VM files, "datastore_map": {...},
    "networks": {name or portgroup key: {"name", "type": standard|dvs, "portgroup_key", "switch_uuid"}},
    "network_map": {...}, "luns": {wanted: {"canonical_name", "uuid", "capacity_bytes"}}, "versions": [...],
    "existing_disks": {source disk key: "[datastore] path.vmdk"} (attached as they are)}.
    options: name, mac (keep|regenerate), uuid, instance_uuid (keep|new), hardware_version
    (refuse|lower), disk_provisioning (source|thin|thick|eager), rdm_policy (remap|as_vmdk|skip),
    rdm_map, extra_config_deny, extra_config_allow."""

    def __init__(self, config, target, options):
        self.config, self.target, self.options = config, target, options
        self.notes, self.disks, self.nics, self.dropped_extra_config = [], [], [], []
        self._keys = {}

    def build(self):
        config, options = self.config, self.options
        check_config(config)
        check_map_keys(config, options.get("network_map"), self.target.get("datastore_map"))
        spec = vim.vm.ConfigSpec(name=options["name"])
        version, note = hardware_version(config.version, self.target.get("versions"), options.get("hardware_version", "refuse"))
        spec.version = version
        if note:
            self.notes.append(note)
        for field in COPIED_FIELDS:
            if hasattr(spec, field) and getattr(config, field, None) is not None:
                setattr(spec, field, getattr(config, field))
        for field, hardware_field in HARDWARE_FIELDS.items():
            setattr(spec, field, getattr(config.hardware, hardware_field, None))
        spec.bootOptions = _boot_options_without_device_keys(config.bootOptions)
        spec.powerOpInfo = config.defaultPowerOps
        spec.files = vim.vm.FileInfo(vmPathName="[%s]" % (self.target.get("datastore") or _datastore_of(config.files.vmPathName)))
        spec.changeTrackingEnabled = False  # CBT off while the disks are filled
        if options.get("uuid", "keep") == "keep":
            spec.uuid = config.uuid
        if options.get("instance_uuid", "new") == "keep":
            spec.instanceUuid = config.instanceUuid
        spec.cpuFeatureMask = cpu_feature_mask(config.cpuFeatureMask)
        spec.vAppConfig = vapp_spec(config.vAppConfig)
        spec.extraConfig, self.dropped_extra_config = extra_config(
            config.extraConfig, options.get("extra_config_deny", DEFAULT_EXTRA_CONFIG_DENY), options.get("extra_config_allow") or [])
        marks = dict(options.get("marks") or {})
        if options.get("recovery_of"):
            marks[RECOVERY_MARK_KEY] = options["recovery_of"]
        if marks:
            spec.extraConfig = [o for o in spec.extraConfig or [] if o.key not in marks] + [
                vim.option.OptionValue(key=key, value=value) for key, value in sorted(marks.items())]
        spec.deviceChange = self._device_changes()
        return spec

    def _existing_disks(self):
        """{source disk key: "[datastore] path.vmdk"}: disks attached as they are, not created."""
        return self.target.get("existing_disks") or {}

    def _device_changes(self):
        devices = [d for d in self.config.hardware.device if not _is_default(d)]
        for number, device in enumerate(devices, 1):
            self._keys[device.key] = -number  # temporary keys: nothing collides with the host's
        changes = []
        for device in devices:
            new = self._device(device)
            if new is None:
                continue
            change = vim.vm.device.VirtualDeviceSpec(operation="add", device=new)
            if isinstance(new, vim.vm.device.VirtualDisk) and device.key not in self._existing_disks():
                change.fileOperation = "create"  # a new base disk, or an RDM's new mapping file
            changes.append(change)
        return changes

    def _device(self, source):
        device = type(source)()
        for info in type(source)._GetPropertyList():
            value = getattr(source, info.name, None)
            if value is not None and info.name not in ("key", "controllerKey", "device", "backing"):
                setattr(device, info.name, value)
        device.key = self._keys[source.key]
        if source.controllerKey is not None:
            device.controllerKey = self._keys.get(source.controllerKey, source.controllerKey)  # default ones keep theirs
        if isinstance(device, vim.vm.device.VirtualController):
            device.device = []  # the controllers' device lists are dropped
        if source.connectable is not None:
            device.connectable = vim.vm.device.VirtualDevice.ConnectInfo(
                startConnected=source.connectable.startConnected, allowGuestControl=source.connectable.allowGuestControl,
                connected=False)
        if isinstance(source, vim.vm.device.VirtualDisk):
            return self._disk(source, device)
        device.backing = self._backing(source)
        if isinstance(source, vim.vm.device.VirtualEthernetCard):
            self._nic(source, device)
        return device

    def _backing(self, source):
        backing = source.backing
        if backing is not None and getattr(backing, "fileName", None):
            backing.fileName = _remap_path(backing.fileName, self.target.get("datastore_map") or {})
            if hasattr(backing, "datastore"):
                backing.datastore = None  # a moref of the source's vCenter
        return backing

    def _disk(self, source, device):
        options, backing = self.options, source.backing
        capacity = source.capacityInBytes or source.capacityInKB * 1024
        device.capacityInBytes, device.capacityInKB = capacity, capacity // 1024
        for field in ("diskObjectId", "vDiskId", "iofilter", "vFlashCacheConfigInfo", "nativeUnmanagedLinkedClone"):
            if hasattr(device, field):
                setattr(device, field, None)
        source_datastore = _datastore_of(getattr(backing, "fileName", None)) or _datastore_of(self.config.files.vmPathName)
        datastore = (self.target.get("datastore_map") or {}).get(source_datastore) or self.target.get("datastore") or source_datastore
        entry = {"source_key": source.key, "label": source.deviceInfo.label if source.deviceInfo else None,
                 "capacity_bytes": capacity, "datastore": datastore, "temporary_key": device.key,
                 "controller_key": source.controllerKey, "unit_number": source.unitNumber}
        if source.key in self._existing_disks():  # a disk file that exists already (instant recovery's served disks)
            path = self._existing_disks()[source.key]
            device.backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                fileName=path, diskMode=getattr(backing, "diskMode", None) or "persistent")
            entry.update(datastore=_datastore_of(path), existing=path)
            self.disks.append(entry)
            return device
        if isinstance(backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo):
            return self._rdm(source, device, backing, datastore, entry)
        provisioning = options.get("disk_provisioning", "source")
        if provisioning == "source":
            thin, eager = bool(getattr(backing, "thinProvisioned", False)), bool(getattr(backing, "eagerlyScrub", False))
            if isinstance(backing, vim.vm.device.VirtualDisk.SeSparseBackingInfo):
                thin = True
        else:
            thin, eager = provisioning == "thin", provisioning == "eager"
        device.backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName="[%s]" % datastore, diskMode=getattr(backing, "diskMode", None) or "persistent",
            thinProvisioned=thin, eagerlyScrub=eager and not thin, parent=None,
            sharing=getattr(backing, "sharing", None), writeThrough=getattr(backing, "writeThrough", None))
        entry["provisioning"] = "thin" if thin else ("eager" if eager else "thick")
        self.disks.append(entry)
        return device

    def _rdm(self, source, device, backing, datastore, entry):
        policy = self.options.get("rdm_policy", "remap")
        wanted = [w for w in (backing.lunUuid, backing.deviceName) if w in (self.options.get("rdm_map") or {})]
        if policy == "skip":
            self.notes.append("RDM disk %s (LUN %s) left out (rdm_policy: skip)" % (source.key, backing.deviceName))
            return None
        if policy == "as_vmdk":
            device.backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                fileName="[%s]" % datastore, diskMode="persistent", thinProvisioned=True)
            entry.update(provisioning="thin", rdm_as_vmdk=True)
            self.disks.append(entry)
            return device
        if not wanted:
            raise RdmPolicyError("RDM disk %s maps LUN %s (uuid %s): give its new LUN in rdm_map, or set rdm_policy to "
                                 "as_vmdk or skip" % (source.key, backing.deviceName, backing.lunUuid))
        lun = (self.target.get("luns") or {}).get(self.options["rdm_map"][wanted[0]])
        if lun is None:
            raise RdmPolicyError("rdm_map names LUN %r for RDM disk %s, which the target host does not offer" % (
                self.options["rdm_map"][wanted[0]], source.key))
        device.backing = vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo(
            fileName="[%s]" % datastore, deviceName=lun["canonical_name"], lunUuid=lun["uuid"],
            compatibilityMode=backing.compatibilityMode, diskMode=backing.diskMode or "persistent")
        device.capacityInBytes, device.capacityInKB = lun["capacity_bytes"], lun["capacity_bytes"] // 1024
        entry.update(provisioning="rdm", capacity_bytes=lun["capacity_bytes"], lun=lun["canonical_name"])
        self.disks.append(entry)
        return device

    def _nic(self, source, device):
        networks = self.target.get("networks") or {}
        network_map = self.options.get("network_map") or {}
        source_name = _source_network(source)
        wanted = self.options.get("network") or network_map.get(source_name, source_name)
        network = networks.get(wanted)
        if network is None:
            raise NetworkNotFoundError("NIC %s (%s) is on network %r, which the target does not have: map it with "
                                       "network_map (networks there: %s)" % (
                                           source.key, source.deviceInfo.label if source.deviceInfo else "",
                                           wanted, ", ".join(sorted(set(n["name"] for n in networks.values())))))
        if network["type"] == "dvs":
            device.backing = vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
                port=vim.dvs.PortConnection(switchUuid=network["switch_uuid"], portgroupKey=network["portgroup_key"]))
        else:
            device.backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=network["name"])
        if self.options.get("mac", "keep") == "keep" and source.macAddress:
            device.macAddress = source.macAddress
            # vSphere takes a manual MAC only in 00:50:56:00-3F; others it assigned itself
            manual = not source.macAddress.lower().startswith("00:50:56:") or int(source.macAddress[9:11], 16) < 0x40
            device.addressType = "manual" if manual else "assigned"
        else:
            device.macAddress, device.addressType = None, "generated"
        device.externalId = None
        if not self.options.get("nics_connected", True):
            device.connectable = vim.vm.device.VirtualDevice.ConnectInfo(startConnected=False, connected=False,
                                                                         allowGuestControl=False)
        self.nics.append({"source_key": source.key, "network": network["name"], "source_network": source_name,
                          "mac": device.macAddress, "address_type": device.addressType,
                          "start_connected": device.connectable.startConnected if device.connectable else None})


def _controller_address(config, key):
    """(controller type, bus number) of a controller key in a config."""
    for device in config.hardware.device:
        if device.key == key:
            return type(device).__name__, device.busNumber
    return None, None


def new_disk_map(source_config, new_config):
    """({source disk key: new disk key}, {source key: {key, file_name, address}}), the disks
    matched by controller type, bus number and unit number."""
    new_disks = {}
    for disk in new_config.hardware.device:
        if isinstance(disk, vim.vm.device.VirtualDisk):
            new_disks[_controller_address(new_config, disk.controllerKey) + (disk.unitNumber,)] = disk
    disk_map, details = {}, {}
    source_devices = {d.key: d for d in source_config.hardware.device}
    for disk in source_config.hardware.device:
        if not isinstance(disk, vim.vm.device.VirtualDisk):
            continue
        kind, bus = _controller_address(source_config, disk.controllerKey)
        match = new_disks.get((kind, bus, disk.unitNumber))
        if match is not None:
            disk_map[str(disk.key)] = match.key
            details[disk.key] = {"key": match.key, "file_name": match.backing.fileName,
                                 "address": disk_address(disk, source_devices)}
    return disk_map, details


def _keyed(entry):
    """A boot order entry that names a device by key (a disk or a NIC)."""
    return isinstance(entry, (vim.vm.BootOptions.BootableDiskDevice, vim.vm.BootOptions.BootableEthernetDevice))


def _boot_options_without_device_keys(options):
    """The source's boot options for CreateVM, without the boot order entries that name devices by
    the source's keys (they would name other devices, or none, in the new VM); boot_order_spec puts
    them back with the new keys once the VM exists."""
    if options is None:
        return None
    copied = copy.deepcopy(options)
    copied.bootOrder = [e for e in options.bootOrder or [] if not _keyed(e)]
    return copied


def _nic_map(source_config, new_config):
    """{source NIC key: new NIC key}: by PCI slot where both have one, else in device order."""
    def nics(config):
        return [d for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    source, new = nics(source_config), nics(new_config)
    slot = {d.slotInfo.pciSlotNumber: d for d in new if getattr(d.slotInfo, "pciSlotNumber", None) is not None}
    mapped = {}
    for position, nic in enumerate(source):
        match = slot.get(getattr(nic.slotInfo, "pciSlotNumber", None)) if nic.slotInfo is not None else None
        if match is None and position < len(new):
            match = new[position]
        if match is not None:
            mapped[nic.key] = match.key
    return mapped


def boot_order_spec(source_config, new_config):
    """BootOptions whose boot order names the new VM's disks and NICs where the source named its
    own (by device key), or None when the source's order names no device by key. An entry whose
    device the new VM lacks (an RDM left out) is dropped."""
    order = (source_config.bootOptions.bootOrder or []) if source_config.bootOptions else []
    if not any(_keyed(e) for e in order):
        return None
    disks = {int(k): v for k, v in new_disk_map(source_config, new_config)[0].items()}
    nics = _nic_map(source_config, new_config)
    remapped = []
    for entry in order:
        if isinstance(entry, vim.vm.BootOptions.BootableDiskDevice):
            if entry.deviceKey in disks:
                remapped.append(vim.vm.BootOptions.BootableDiskDevice(deviceKey=disks[entry.deviceKey]))
        elif isinstance(entry, vim.vm.BootOptions.BootableEthernetDevice):
            if entry.deviceKey in nics:
                remapped.append(vim.vm.BootOptions.BootableEthernetDevice(deviceKey=nics[entry.deviceKey]))
        else:
            remapped.append(entry)
    return vim.vm.BootOptions(bootOrder=remapped)


def video_card_edit(source_config, vm):
    """A device edit giving the new VM's video card the source's settings, or None."""
    source = [d for d in source_config.hardware.device if isinstance(d, vim.vm.device.VirtualVideoCard)]
    card = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualVideoCard)]
    if not source or not card:
        return None
    changed = False
    for field in ("videoRamSizeInKB", "numDisplays", "useAutoDetect", "enable3DSupport", "use3dRenderer", "graphicsMemorySizeInKB"):
        value = getattr(source[0], field, None)
        if value is not None and getattr(card[0], field, None) != value:
            setattr(card[0], field, value)
            changed = True
    return vim.vm.device.VirtualDeviceSpec(operation="edit", device=card[0]) if changed else None
