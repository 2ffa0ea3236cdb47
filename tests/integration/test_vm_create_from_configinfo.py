"""vm_create_from_configinfo against the lab: every saved config (the suite's generated ones, and the
third-party captures of real VMs when they are beside this clone) becomes a VM whose devices match
the source's, read back with plain pyVmomi."""
import collections
import json
import os

import pytest
from pyVmomi import vim

from conftest import create_vm, destroy_vm, destroy_vms, find_vm_by_name, run_module, wait
from fixtures import generated, third_party_configinfo
from ansible_collections.vadp.vsphere.plugins.module_utils._recreate.configinfo import read_config_file

THIRD_PARTY = third_party_configinfo()
DEFAULT_TYPES = (vim.vm.device.VirtualIDEController, vim.vm.device.VirtualPS2Controller, vim.vm.device.VirtualPCIController,
                 vim.vm.device.VirtualSIOController, vim.vm.device.VirtualKeyboard, vim.vm.device.VirtualVMCIDevice,
                 vim.vm.device.VirtualPointingDevice, vim.vm.device.VirtualVideoCard)
A_LUN = "a LUN of the host"  # stands for one of the lab's LUNs, found when the test runs
CASES = {
    generated("all-controllers.govc.xml"): {},
    generated("efi-delta-dvs.soap.xml"): {"network_map": {"dvportgroup-46": "DC0_DVPG0"}},
    generated("two-vms.pyvmomi.json"): {"config_vm": "build-02"},
    # vmx-20 is newer than the lab's ESXi 7.0U3 (vmx-19 at most); its RDM goes onto a lab LUN
    generated("vsphere8-devices.vim25.json"): {"hardware_version": "lower", "rdm_map": {
        "02000000006006016015301d00167e1b4a3d1fe311524149442035": A_LUN}},
}
THIRD_PARTY_CASES = {
    "glouton_esxi801_vm-10_alp1_all-controllers.xml": {},
    "glouton_esxi801_vm-8_lunar_serial-floppy.xml": {},
    "nri-vsphere_SDDC_vm-1003_test-snap_delta-chain.xml": {"network_map": {"dvportgroup-46": "DC0_DVPG0"}},
    # 715 GiB of eager-zeroed disks: thick in the lab's accounting, sparse on the host
    "nri-vsphere_SDDC_vm-20_vcsa_eager-thick-3xLSI.xml": {"network_map": {"dvportgroup-47": "VM Network"}},
    "yavijava_RetrievePropertiesResponse_vm-51_Web-2.xml": {"network_map": {"dvportgroup-56": "DC0_DVPG0"}},
    "pyvmomi_827747f_test_json_vm_explode_type_match.json": {"config_vm": "Jenkins02"},
    # vmx-20 is newer than the lab's ESXi 7.0U3 (vmx-19 at most)
    "govmomi_765d72e1_virtualMachineConfigInfo.json": {"hardware_version": "lower"},
}
if THIRD_PARTY:
    CASES.update((os.path.join(THIRD_PARTY, name), options) for name, options in THIRD_PARTY_CASES.items())


def _controller(config, key):
    return [d for d in config.hardware.device if d.key == key][0]


def _provisioning(backing):
    return "thin" if backing.thinProvisioned else ("eager" if backing.eagerlyScrub else "thick")


def _summary(config, network_of, provisioning=None):
    """What an admin compares: devices by type and place, not by key."""
    devices = config.hardware.device
    result = collections.Counter([("hardware", config.hardware.numCPU, config.hardware.numCoresPerSocket,
                                   config.hardware.memoryMB, config.guestId, config.firmware)])
    for d in devices:
        kind = type(d).__name__.split(".")[-1]
        if isinstance(d, vim.vm.device.VirtualController) and not isinstance(d, DEFAULT_TYPES):
            result[("controller", kind, d.busNumber)] += 1
        elif isinstance(d, vim.vm.device.VirtualDisk) and hasattr(d.backing, "compatibilityMode"):
            controller = _controller(config, d.controllerKey)  # an RDM: its size is the LUN's
            result[("rdm", type(controller).__name__, controller.busNumber, d.unitNumber, d.backing.compatibilityMode)] += 1
        elif isinstance(d, vim.vm.device.VirtualDisk):
            controller = _controller(config, d.controllerKey)
            result[("disk", type(controller).__name__, controller.busNumber, d.unitNumber,
                    d.capacityInBytes or d.capacityInKB * 1024, provisioning or _provisioning(d.backing))] += 1
        elif isinstance(d, vim.vm.device.VirtualEthernetCard):
            result[("nic", kind, network_of(d.backing))] += 1
        elif isinstance(d, (vim.vm.device.VirtualCdrom, vim.vm.device.VirtualFloppy, vim.vm.device.VirtualSerialPort)):
            result[("device", kind, type(_controller(config, d.controllerKey)).__name__, d.unitNumber)] += 1
    return result


def _new_network(backing, si):
    if isinstance(backing, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo):
        pgs = [n for n in si.content.rootFolder.childEntity[0].network if getattr(n, "key", None) == backing.port.portgroupKey]
        return pgs[0].name
    return backing.deviceName


def _a_lun(si):
    [vm] = find_vm_by_name(si, "DC0_H0_VM0")
    return vm.environmentBrowser.QueryConfigTarget(host=vm.runtime.host).scsiDisk[-1].disk.canonicalName


@pytest.mark.parametrize("fixture", sorted(CASES), ids=os.path.basename)
def test_each_config_becomes_a_matching_vm(si, fixture):
    args = dict(CASES[fixture], name="fx-" + os.path.basename(fixture)[:12], config_file=fixture,
                datastore="LocalDS_0", host="DC0_H0")
    if "rdm_map" in args:
        args["rdm_map"] = {uuid: _a_lun(si) if lun == A_LUN else lun for uuid, lun in args["rdm_map"].items()}
    source, _unknown = read_config_file(args["config_file"], args.get("config_vm"))
    network_map = args.get("network_map", {})

    def source_network(backing):
        name = backing.port.portgroupKey if hasattr(backing, "port") else backing.deviceName
        return network_map.get(name, name)

    planned = run_module("vadp.vsphere.vm_create_from_configinfo", args, check_mode=True)
    assert planned["changed"] is True and planned["config_spec"]["deviceChange"], planned
    assert not find_vm_by_name(si, args["name"])  # check mode created nothing
    result = run_module("vadp.vsphere.vm_create_from_configinfo", args)
    assert not result.get("failed"), result
    [vm] = find_vm_by_name(si, args["name"])
    try:
        assert _summary(vm.config, lambda b: _new_network(b, si), args.get("disk_provisioning")) == \
            _summary(source, source_network, args.get("disk_provisioning"))
        counts = collections.Counter(type(d) for d in vm.config.hardware.device if isinstance(d, DEFAULT_TYPES))
        assert all(n == (2 if t is vim.vm.device.VirtualIDEController else 1) for t, n in counts.items()), counts
        assert sorted((m.level, m.vendor or "") for m in vm.config.cpuFeatureMask or []) == \
            sorted((m.level, m.vendor or "") for m in source.cpuFeatureMask or [])
        assert vm.config.uuid == source.uuid  # bios_uuid: keep
        assert sorted(result["disk_map"]) == sorted(str(d.key) for d in source.hardware.device
                                                    if isinstance(d, vim.vm.device.VirtualDisk))
        again = run_module("vadp.vsphere.vm_create_from_configinfo", args)
        assert again["changed"] is False and again["disk_map"] == result["disk_map"]
    finally:
        destroy_vm(vm)


EFI_DVS = generated("efi-delta-dvs.soap.xml")
VSPHERE8 = generated("vsphere8-devices.vim25.json")


def _macs(vm):
    return sorted(d.macAddress for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard))


@pytest.mark.parametrize("keep", [True, False])
def test_macs_and_bios_uuid_kept_or_regenerated(si, keep):
    source, _unknown = read_config_file(EFI_DVS)
    args = {"name": "fx-identity", "config_file": EFI_DVS, "datastore": "LocalDS_0", "host": "DC0_H0",
            "network_map": {"dvportgroup-46": "DC0_DVPG0"}, "mac": "keep" if keep else "regenerate",
            "bios_uuid": "keep" if keep else "new"}
    result = run_module("vadp.vsphere.vm_create_from_configinfo", args)
    assert not result.get("failed"), result
    [vm] = find_vm_by_name(si, "fx-identity")
    try:
        source_macs = sorted(d.macAddress for d in source.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard))
        assert (_macs(vm) == source_macs) is keep
        assert (vm.config.uuid == source.uuid) is keep
    finally:
        destroy_vm(vm)


def test_a_vm_recovered_with_its_nics_disconnected_starts_isolated(si):
    """nics_connected false (a point that may hold malware): every card starts disconnected, and its
    guest cannot connect it."""
    args = {"name": "fx-isolated", "config_file": EFI_DVS, "datastore": "LocalDS_0", "host": "DC0_H0",
            "network_map": {"dvportgroup-46": "DC0_DVPG0"}, "nics_connected": False}
    result = run_module("vadp.vsphere.vm_create_from_configinfo", args)
    assert not result.get("failed"), result
    [vm] = find_vm_by_name(si, "fx-isolated")
    try:
        cards = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
        assert cards and [(c.connectable.startConnected, c.connectable.allowGuestControl) for c in cards] == [(False, False)] * len(cards)
        assert [n["start_connected"] for n in result["nics"]] == [False] * len(cards)
    finally:
        destroy_vm(vm)


def test_a_name_with_a_slash_and_a_percent_is_found_again(si):
    """vCenter stores '/' in a name as %2f and '%' as %25: the second run finds the VM it made
    (created false, nothing new) and state absent removes it, by the name as typed."""
    typed = "fx/web%02"
    stored = typed.replace("%", "%25").replace("/", "%2f")
    args = {"name": typed, "config_file": EFI_DVS, "datastore": "LocalDS_0", "host": "DC0_H0",
            "network_map": {"dvportgroup-46": "DC0_DVPG0"}}
    try:
        first = run_module("vadp.vsphere.vm_create_from_configinfo", args)
        assert first["created"] is True, first
        again = run_module("vadp.vsphere.vm_create_from_configinfo", args)
        assert again["created"] is False and again["changed"] is False, again
        assert len(find_vm_by_name(si, stored)) == 1
        removed = run_module("vadp.vsphere.vm_create_from_configinfo", {"name": typed, "state": "absent"})
        assert removed["changed"] is True, removed
        assert find_vm_by_name(si, stored) == []
    finally:
        for vm in find_vm_by_name(si, stored):
            destroy_vm(vm)


def test_refusals_create_nothing(si):
    base = {"name": "fx-refused", "datastore": "LocalDS_0", "host": "DC0_H0"}
    cases = [
        (dict(base, config_file=EFI_DVS), "NETWORK_NOT_FOUND"),  # its DVS port group is not in the lab
        (dict(base, config_file=VSPHERE8), "HW_VERSION_UNSUPPORTED"),
        (dict(base, config_file=EFI_DVS, datastore="NoSuchDS"), "PLACEMENT_INVALID"),
        (dict(base, config={"_typeName": "VirtualMachineConfigInfo", "name": "x"}), "CONFIG_INVALID"),
        # a misspelt key would leave the NIC on the production port group
        (dict(base, config_file=EFI_DVS, network_map={"dvportgroup-64": "DC0_DVPG0"}), "MAP_KEY_UNKNOWN"),
        # what vCenter (and the lab) would refuse at CreateVM is refused first, naming the field
        (dict(base, config_file=EFI_DVS, name="fx-refused" + "x" * 71), "CONFIG_INVALID"),  # 81 characters
        (dict(base, config=_with_hardware(EFI_DVS, numCPU=4096)), "CONFIG_INVALID"),
        (dict(base, config=_with_hardware(EFI_DVS, memoryMB=1 << 40)), "CONFIG_INVALID"),
    ]
    for args, code in cases:
        result = run_module("vadp.vsphere.vm_create_from_configinfo", args)
        assert result.get("failed") and result["error_code"] == code, (code, result)
        assert not find_vm_by_name(si, "fx-refused") and not find_vm_by_name(si, args["name"])
        assert code != "CONFIG_INVALID" or "hardware" in result["msg"] or "vCenter takes names" in result["msg"], result


def _with_hardware(path, **hardware):
    """The saved configuration of path as pyVmomi JSON, with hardware fields changed."""
    import json
    from pyVmomi.VmomiJSONEncoder import VmomiJSONEncoder
    from ansible_collections.vadp.vsphere.plugins.module_utils._recreate.configinfo import read_config_file
    config, _unknown = read_config_file(path)
    for field, value in hardware.items():
        setattr(config.hardware, field, value)
    return json.loads(json.dumps(config, cls=VmomiJSONEncoder))


def test_disaster_recovery_from_a_restore_point(si, lab, tmp_path):
    """A backup of a lab VM, a new VM from the point's config, its disks filled: the same bytes."""
    source = create_vm(si, "fx-dr-source", [64, 32])
    try:
        second = [d for d in source.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][1]
        wait(source.ReconfigVM_Task(vim.vm.ConfigSpec(bootOptions=vim.vm.BootOptions(bootOrder=[
            vim.vm.BootOptions.BootableDiskDevice(deviceKey=second.key)]))))  # boots from its second disk
        wait(source.PowerOnVM_Task())
        lab.guest_write("fx-dr-source", offset=5 << 20, length=1 << 20, seed=3)
        repo = str(tmp_path / "repo")
        assert not run_module("vadp.vsphere.vm_backup", {"name": "fx-dr-source", "repository": repo}).get("failed")
        expected = [d["sha256"] for d in lab.inspect("fx-dr-source")["disks"]]
        created = run_module("vadp.vsphere.vm_create_from_configinfo", {
            "name": "fx-dr-target", "repository": repo, "source_vm": "fx-dr-source", "datastore": "LocalDS_0",
            "host": "DC0_H0", "bios_uuid": "new"})
        assert not created.get("failed"), created
        restored = run_module("vadp.vsphere.vmdk_restore", {"moid": created["vm"]["moid"], "repository": repo,
                                                            "source_vm": "fx-dr-source", "mode": "fresh",
                                                            "disk_map": created["disk_map"]})
        assert not restored.get("failed"), restored
        assert [d["sha256"] for d in lab.inspect("fx-dr-target")["disks"]] == expected
        [target] = find_vm_by_name(si, "fx-dr-target")
        assert [e.deviceKey for e in target.config.bootOptions.bootOrder] == [created["disk_map"][str(second.key)]]
        # the recovered VM is marked, so a re-run knows it; an unmarked VM of that name would be refused
        assert [o.value for o in target.config.extraConfig if o.key == "vadp.recoveredFrom"] == [created["recovery_of"]]
        again = run_module("vadp.vsphere.vm_create_from_configinfo", {
            "name": "fx-dr-target", "repository": repo, "source_vm": "fx-dr-source", "datastore": "LocalDS_0",
            "host": "DC0_H0", "bios_uuid": "new"})
        assert again["changed"] is False and again["created"] is False and again["vm"]["moid"] == created["vm"]["moid"]
    finally:
        destroy_vms(si, "fx-dr-source", "fx-dr-target")


def test_a_lun_another_vm_maps_is_refused_before_the_vm_is_created(si, lab, tmp_path):
    source = create_vm(si, "fx-rdm-source", [32])
    create_vm(si, "fx-rdm-holder", [32])
    luns = source.environmentBrowser.QueryConfigTarget(host=source.runtime.host).scsiDisk
    lun_a, lun_b = luns[0].disk.canonicalName, luns[1].disk.canonicalName
    try:
        for vm, lun in (("fx-rdm-source", lun_a), ("fx-rdm-holder", lun_b)):
            assert not run_module("vadp.vsphere.rdm_disk", {"name": vm, "lun": lun}).get("failed")
        repo = str(tmp_path / "repo")
        wait(source.PowerOnVM_Task())
        assert not run_module("vadp.vsphere.vm_backup", {"name": "fx-rdm-source", "repository": repo}).get("failed")
        refused = run_module("vadp.vsphere.vm_create_from_configinfo", {
            "name": "fx-rdm-target", "repository": repo, "source_vm": "fx-rdm-source", "datastore": "LocalDS_0",
            "host": "DC0_H0", "rdm_map": {lun_a: lun_b}})
        assert refused["failed"] and refused["error_code"] == "LUN_IN_USE" and "fx-rdm-holder" in refused["msg"]
        assert not find_vm_by_name(si, "fx-rdm-target")
    finally:
        destroy_vms(si, "fx-rdm-source", "fx-rdm-holder", "fx-rdm-target")


def test_an_efi_vm_gets_its_nvram_back(si, lab, tmp_path):
    """An EFI guest boots only with its own NVRAM (its boot entries): the backup saves it, the
    recovered VM gets the same bytes."""
    source = create_vm(si, "fx-efi-source", [16])
    try:
        wait(source.ReconfigVM_Task(vim.vm.ConfigSpec(firmware="efi")))
        nvram = lab.disk_file("fx-efi-source", "[LocalDS_0] fx-efi-source/fx-efi-source.nvram")
        variables = os.urandom(8192)
        with open(nvram, "wb") as f:
            f.write(variables)
        wait(source.PowerOnVM_Task())
        repo = str(tmp_path / "repo")
        assert not run_module("vadp.vsphere.vm_backup", {"name": "fx-efi-source", "repository": repo}).get("failed")
        created = run_module("vadp.vsphere.vm_create_from_configinfo", {
            "name": "fx-efi-target", "repository": repo, "source_vm": "fx-efi-source", "datastore": "LocalDS_0",
            "host": "DC0_H0"})
        assert not created.get("failed"), created
        assert "NVRAM restored from the point (EFI)" in created["notes"]
        [target] = find_vm_by_name(si, "fx-efi-target")
        assert target.config.firmware == "efi"
        with open(lab.disk_file("fx-efi-target", "[LocalDS_0] fx-efi-target/fx-efi-target.nvram"), "rb") as f:
            assert f.read() == variables
    finally:
        destroy_vms(si, "fx-efi-source", "fx-efi-target")


def test_a_failure_after_create_vm_says_the_vm_exists_and_how_to_go_on(si, lab, tmp_path):
    """The source's video card settings are applied by a reconfigure after CreateVM: when that
    fails, the result says the VM exists (changed) and how to remove it, and state absent does."""
    with open(VSPHERE8) as f:
        config = json.load(f)
    config["hardware"]["device"] = [d for d in config["hardware"]["device"]  # no LUN needed here
                                    if "RawDiskMapping" not in d.get("backing", {}).get("_typeName", "")]
    [video] = [d for d in config["hardware"]["device"] if d["_typeName"] == "VirtualMachineVideoCard"]
    video["videoRamSizeInKB"] = 65536  # not the new VM's default: an edit follows CreateVM
    (tmp_path / "config.json").write_text(json.dumps(config))
    args = {"name": "fx-half", "config_file": str(tmp_path / "config.json"), "datastore": "LocalDS_0", "host": "DC0_H0",
            "hardware_version": "lower"}
    lab.control("/faults", {"tasks": [{"method": "ReconfigVM_Task", "fault": "GenericVmConfigFault",
                                       "message": "injected by the test", "times": 1}]})
    try:
        result = run_module("vadp.vsphere.vm_create_from_configinfo", args)
    finally:
        lab.control("/faults", {"tasks": []})
    try:
        assert result["failed"] and result["error_code"] == "VM_HALF_CREATED" and result["changed"] is True, result
        assert "state: absent" in result["msg"] and result["vm"]["name"] == "fx-half"
        assert find_vm_by_name(si, "fx-half")
        removed = run_module("vadp.vsphere.vm_create_from_configinfo", {"name": "fx-half", "host": "DC0_H0", "state": "absent"})
        assert removed["changed"] is True and not find_vm_by_name(si, "fx-half")
    finally:
        destroy_vms(si, "fx-half")
