# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recreating a VM from a saved VirtualMachineConfigInfo (a file, a value, or a restore point):
the ConfigSpec built and checked, the placement and LUNs checked, CreateVM, then what CreateVM
cannot do (video card, boot order, NVRAM). A VM of that name is only ever touched when it carries
this job's recovery mark for the same source. No Ansible imports: vm_create_from_configinfo and
tests call it alike.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Callable, Dict, List, Optional

try:
    from pyVmomi import vim
    from pyVmomi.VmomiJSONEncoder import VmomiJSONEncoder
except ImportError:
    pass  # VsphereClient reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils._recreate.config_spec import (
    RECOVERY_MARK_KEY,
    SpecBuilder,
    boot_order_spec,
    check_config,
    check_name,
    new_disk_map,
    video_card_edit,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._recreate.configinfo import load_config, read_config_file
from ansible_collections.vadp.vsphere.plugins.module_utils._recreate.nvram import upload_nvram
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.placement import (
    LunInUseError,
    PlacementError,
    datastore_names,
    find_placement,
    find_vm_folder,
    lun_users,
    networks_of,
    placement_luns,
    supported_versions,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import vm_identity
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.lookup import entity_name
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import wait_for_task


@dataclasses.dataclass(frozen=True)
class RecreateOptions:
    """The module's options of the same names (docs: ansible-doc vadp.vsphere.vm_create_from_configinfo)."""
    name: str
    config_file: Optional[str] = None
    config: object = None
    repository: Optional[str] = None
    restore_point: str = "latest"
    source_vm: Optional[str] = None
    config_vm: Optional[str] = None
    datacenter: Optional[str] = None
    folder: Optional[str] = None
    cluster: Optional[str] = None
    host: Optional[str] = None
    resource_pool: Optional[str] = None
    datastore: Optional[str] = None
    datastore_map: Optional[Dict[str, str]] = None
    network_map: Optional[Dict[str, str]] = None
    network: Optional[str] = None  # every NIC on this network, whatever its source's
    nics_connected: bool = True  # false: every NIC starts disconnected (a VM restored from a point that may be infected)
    mac: str = "keep"
    bios_uuid: str = "keep"
    instance_uuid: str = "new"
    hardware_version: str = "refuse"
    disk_provisioning: str = "source"
    extra_config_deny: Optional[List[str]] = None
    extra_config_allow: List[str] = dataclasses.field(default_factory=list)
    rdm_policy: str = "remap"
    rdm_map: Optional[Dict[str, str]] = None
    state: str = "present"
    if_exists: str = "keep"
    timeout: int = 600
    # more extraConfig marks (a drill's own); set by callers, not a module option
    marks: Dict[str, str] = dataclasses.field(default_factory=dict, metadata={"option": False})
    # source disk key -> "[datastore] path.vmdk" attached as it is (instant recovery); set by callers
    existing_disks: Dict[int, str] = dataclasses.field(default_factory=dict, metadata={"option": False})
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None  # how to reach a repository in object storage (s3.OPTIONS)


def _named(folder, name):
    """The VMs in folder with name as the user typed it (vCenter stores '/' as %2f, '%' as %25)."""
    return [vm for vm in folder.childEntity if isinstance(vm, vim.VirtualMachine) and entity_name(vm.name) == name]


class VmHalfCreatedError(VadpError):
    error_code = "VM_HALF_CREATED"


class RecreateVm:
    """Creates (or, with state absent, deletes) the VM options describe. warn receives the
    messages a caller should show (Ansible: module.warn)."""

    def __init__(self, client, options: RecreateOptions, warn: Callable[[str], None] = lambda message: None):
        self.client, self.options, self.warn = client, options, warn
        self.check_mode = False

    def _load(self):
        """(ConfigInfo, fields unknown to pyVmomi, the point's NVRAM or None, the source's identity)."""
        o = self.options
        if o.config_file or o.config is not None:
            config, unknown = (read_config_file(o.config_file, o.config_vm) if o.config_file
                               else load_config(o.config, o.config_vm))
            return config, unknown, None, config.instanceUuid or config.uuid or config.name
        repository = Repository(o.repository, o.encryption_key_file, o.s3)
        point = repository.points.find(repository.points.vm_key(o.source_vm), o.restore_point)
        config, unknown = load_config(point["config"]["value"])
        nvram = None
        if point.get("nvram"):
            nvram = repository.points.read_file("%s/%s" % (repository.points.folder(point), point["nvram"]))
        return config, unknown, nvram, point["vm"]["instance_uuid"]

    def _target(self, placement, config):
        o = self.options
        wanted = [o.datastore] + list((o.datastore_map or {}).values())
        available = datastore_names(placement)
        missing = [d for d in wanted if d and d not in available]
        if missing:
            raise PlacementError("datastore %s is not available to the chosen host or cluster (it has: %s)" % (
                ", ".join(missing), ", ".join(sorted(available))))
        has_rdm = any(isinstance(getattr(d, "backing", None), vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)
                      for d in config.hardware.device)
        return {"datastore": o.datastore, "datastore_map": o.datastore_map or {},
                "networks": networks_of(placement["datacenter"]), "versions": supported_versions(placement),
                "luns": placement_luns(placement) if has_rdm and o.rdm_policy == "remap" else {},
                "existing_disks": o.existing_disks}

    def _remove(self):
        o, client = self.options, self.client
        _datacenter, folder = find_vm_folder(client.content, o.datacenter, o.folder)
        existing = _named(folder, o.name)
        if not existing:
            return {"changed": False, "notes": [], "disks": [], "nics": []}
        vm = existing[0]
        if not [o for o in vm.config.extraConfig or [] if o.key == RECOVERY_MARK_KEY]:
            raise VmExistsUnrelatedError("VM %s (%s) was not created by this module (it has no recovery mark): state "
                                         "absent deletes only VMs this module made; it is left untouched" % (
                                             vm.name, vm._moId), details={"vm": vm_identity(vm)})
        if vm.runtime.powerState != "poweredOff":
            raise PlacementError("VM %s is %s: power it off before removing it" % (vm.name, vm.runtime.powerState))
        result = {"changed": True, "vm": vm_identity(vm), "notes": ["VM %s deleted with its disks" % vm.name],
                  "disks": [], "nics": []}
        if not self.check_mode:
            wait_for_task(vm.Destroy_Task(), timeout=self.options.timeout)
        return result

    def plan(self) -> dict:
        """What a creation would do, changing nothing: {config, unknown (fields pyVmomi lacks), nvram,
        source (its identity), placement (find_placement's), builder (SpecBuilder), spec}."""
        o = self.options
        check_name(o.name)
        config, unknown, nvram, source = self._load()
        check_config(config)
        placement = find_placement(self.client.content, o.datacenter, o.folder, o.host, o.cluster, o.resource_pool)
        options = {k: getattr(o, k) for k in ("name", "mac", "instance_uuid", "hardware_version", "disk_provisioning",
                                              "rdm_policy", "rdm_map", "network_map", "network", "nics_connected",
                                              "extra_config_allow", "marks")}
        options.update(uuid=o.bios_uuid, recovery_of=source)
        if o.extra_config_deny is not None:
            options["extra_config_deny"] = o.extra_config_deny
        builder = SpecBuilder(config, self._target(placement, config), options)
        return {"config": config, "unknown": unknown, "nvram": nvram, "source": source, "placement": placement,
                "builder": builder, "spec": builder.build()}

    def run(self, check_mode: bool = False) -> dict:
        o = self.options
        self.check_mode = check_mode
        if o.state == "absent":
            return self._remove()
        planned = self.plan()
        config, unknown, nvram, source = planned["config"], planned["unknown"], planned["nvram"], planned["source"]
        placement, builder, spec = planned["placement"], planned["builder"], planned["spec"]
        notes = list(builder.notes)
        if builder.dropped_extra_config:
            notes.append("extraConfig left out: %s" % ", ".join(builder.dropped_extra_config))
        if unknown:
            notes.append("fields this pyVmomi does not know, left out: %s" % ", ".join(unknown))
        result = {"changed": False, "created": False, "recovery_of": source, "notes": notes, "disks": builder.disks,
                  "nics": builder.nics}
        existing = _named(placement["folder"], o.name)
        if existing:
            return self._existing(existing[0], config, source, result)
        self._check_luns_free(builder.disks, builder.target.get("luns") or {})
        result.update(changed=True, created=True, config_spec=json.loads(json.dumps(spec, cls=VmomiJSONEncoder)))
        if self.check_mode:
            return result
        vm = wait_for_task(placement["folder"].CreateVM_Task(config=spec, pool=placement["resource_pool"], host=placement["host"]),
                           timeout=o.timeout)
        try:
            self._finish(vm, config, nvram, placement, notes)
        except (VadpError, OSError) as exc:
            raise VmHalfCreatedError(
                "VM %s was created, but %s. It is powered off and its disks are empty: delete it (state: absent) and "
                "run again, or fix the cause and run again (the VM is kept)." % (vm.name, exc),
                details={"changed": True, "vm": vm_identity(vm)})
        return self._describe(vm, config, result)

    def _check_luns_free(self, disks, luns):
        """Before CreateVM, as rdm_disk does: a LUN another VM maps is refused, naming that VM."""
        for disk in disks:
            if disk.get("lun") and luns.get(disk["lun"]):
                users = lun_users(self.client.content, luns[disk["lun"]])
                if users:
                    raise LunInUseError("LUN %s (for source disk %s) is mapped by VM %s already: map the RDM to a free LUN "
                                        "with rdm_map; nothing was created" % (disk["lun"], disk["source_key"], ", ".join(users)))

    def _finish(self, vm, config, nvram, placement, notes):
        """What CreateVM cannot do: the video card's settings, the boot order by the new device keys,
        the NVRAM of an EFI VM."""
        edit = video_card_edit(config, vm)
        if edit is not None:
            wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[edit])), timeout=self.options.timeout)
        boot = boot_order_spec(config, vm.config)
        if boot is not None:  # the source's boot order, naming the new VM's device keys
            wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(bootOptions=boot)), timeout=self.options.timeout)
            notes.append("boot order restored with the new VM's device keys")
        if nvram is not None and config.firmware == "efi":
            upload_nvram(self.client, vm, placement["datacenter"].name, nvram)
            notes.append("NVRAM restored from the point (EFI)")

    def _existing(self, vm, config, source, result):
        marks = [o.value for o in vm.config.extraConfig or [] if o.key == RECOVERY_MARK_KEY]
        if marks != [source]:
            whose = ("it is marked as the recovery of %s" % marks[0]) if marks else "it was not made by this module"
            raise VmExistsUnrelatedError(
                "A VM named %s exists in that folder (%s), and %s, not of %s: it is left untouched. Give another name, "
                "or remove that VM yourself if it really is to be replaced." % (vm.name, vm._moId, whose, source),
                details={"vm": vm_identity(vm)})
        if self.options.if_exists == "fail":
            raise VmExistsError("VM %s (%s) exists already, a recovery of %s from an earlier run; if_exists is fail" % (
                vm.name, vm._moId, source), details={"vm": vm_identity(vm)})
        differences = _differences(config, vm.config)
        if differences and self.options.if_exists == "fail_if_different":
            raise PlacementError("VM %s exists in that folder and differs from the saved configuration: %s" % (
                vm.name, "; ".join(differences)), details={"differences": differences})
        result["notes"].append("VM %s exists already: left as it is%s" % (
            vm.name, " (it differs: %s)" % "; ".join(differences) if differences else ""))
        return self._describe(vm, config, result)

    def _describe(self, vm, config, result):
        disk_map, disks = new_disk_map(config, vm.config)
        for entry in result["disks"]:
            entry.update(disks.get(entry["source_key"], {}))
            entry.pop("temporary_key", None)
        macs = {d.key: d.macAddress for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)}
        new_nics = sorted(macs.items())
        for entry, (key, mac) in zip(result["nics"], new_nics):
            entry.update(key=key, mac_now=mac)
            if self.options.mac == "keep" and entry["mac"] and mac != entry["mac"]:
                self.warn("NIC %s: vCenter gave MAC %s, not the kept %s" % (key, mac, entry["mac"]))
        result.update(vm=vm_identity(vm), disk_map=disk_map)
        return result


class VmExistsError(VadpError):
    """A recovery of the same source from an earlier run exists, and if_exists is fail."""
    error_code = "VM_EXISTS"


class VmExistsUnrelatedError(VmExistsError):
    """A VM of the wanted name exists that is not this module's recovery of the source."""
    error_code = "VM_EXISTS_UNRELATED"


def _differences(config, current):
    """What an admin would call a different VM: CPUs, memory, guest, disk sizes."""
    def summary(c):
        sizes = sorted((d.capacityInBytes or d.capacityInKB * 1024) for d in c.hardware.device
                       if isinstance(d, vim.vm.device.VirtualDisk))
        return {"CPUs": c.hardware.numCPU, "memory MB": c.hardware.memoryMB, "guest": c.guestId, "disk sizes": sizes}
    want, have = summary(config), summary(current)
    return ["%s %s, not %s" % (k, have[k], want[k]) for k in want if want[k] != have[k]]
