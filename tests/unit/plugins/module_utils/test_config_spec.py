"""Each rule of turning a saved ConfigInfo into a ConfigSpec on its own, on the suite's generated
configs (and the third-party captures when present), and malformed configs refused with the field named."""
import copy
import importlib.util
import os

import pytest
from pyVmomi import vim

from ansible_collections.vadp.vsphere.plugins.module_utils._recreate import config_spec
from fixtures import GENERATED, generated, third_party_configinfo
from ansible_collections.vadp.vsphere.plugins.module_utils._recreate.configinfo import ConfigInfoError, load_config, read_config_file

ALP1 = generated("all-controllers.govc.xml")
SNAP = generated("efi-delta-dvs.soap.xml")
TWO_VMS = generated("two-vms.pyvmomi.json")
NETWORKS = {"VM Network": {"name": "VM Network", "type": "standard"},
            "Restore": {"name": "Restore", "type": "dvs", "portgroup_key": "dvportgroup-9", "switch_uuid": "50 1a"}}


def build(path=ALP1, target=None, **options):
    config, _unknown = read_config_file(path)
    options.setdefault("name", "new")
    if path == SNAP:
        options.setdefault("network_map", {"dvportgroup-46": "Restore"})  # SNAP's NIC is on a distributed port group
    builder = config_spec.SpecBuilder(config, dict({"datastore": "ds2", "networks": NETWORKS}, **(target or {})), options)
    return config, builder.build(), builder


def added(spec, kind):
    return [c.device for c in spec.deviceChange if isinstance(c.device, kind)]


def test_default_devices_are_left_out():
    _config, spec, _b = build()
    for kind in (vim.vm.device.VirtualIDEController, vim.vm.device.VirtualPS2Controller, vim.vm.device.VirtualPCIController,
                 vim.vm.device.VirtualSIOController, vim.vm.device.VirtualKeyboard, vim.vm.device.VirtualVMCIDevice,
                 vim.vm.device.VirtualPointingDevice, vim.vm.device.VirtualVideoCard):
        assert not added(spec, kind)
    assert added(spec, vim.vm.device.VirtualNVMEController) and added(spec, vim.vm.device.VirtualAHCIController)


def test_added_devices_get_negative_keys_and_their_controllers_temporary_keys():
    config, spec, _b = build()
    keys = [c.device.key for c in spec.deviceChange]
    assert all(k < 0 for k in keys) and len(set(keys)) == len(keys)
    by_new_key = {c.device.key: c.device for c in spec.deviceChange}
    old_controllers = {d.key: d for d in config.hardware.device}
    for disk, source in zip(added(spec, vim.vm.device.VirtualDisk),
                            [d for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]):
        assert type(by_new_key[disk.controllerKey]) is type(old_controllers[source.controllerKey])
        assert by_new_key[disk.controllerKey].busNumber == old_controllers[source.controllerKey].busNumber


def test_devices_on_default_controllers_keep_the_real_key():
    _config, spec, _b = build()
    [cdrom] = added(spec, vim.vm.device.VirtualCdrom)
    assert cdrom.controllerKey == 200  # IDE 0 exists in every new VM
    assert all(c.device.controllerKey == 100 for c in spec.deviceChange if isinstance(c.device, vim.vm.device.VirtualController))


def test_controllers_device_lists_are_dropped():
    _config, spec, _b = build()
    controllers = [c.device for c in spec.deviceChange if isinstance(c.device, vim.vm.device.VirtualController)]
    assert len(controllers) == 6 and all(not c.device for c in controllers)


def test_disks_are_new_base_disks_with_the_source_capacity_and_provisioning():
    config, spec, _b = build(SNAP)
    [source] = [d for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    assert source.backing.parent is not None  # a delta six deep in the source
    [change] = [c for c in spec.deviceChange if isinstance(c.device, vim.vm.device.VirtualDisk)]
    assert change.fileOperation == "create" and change.device.backing.parent is None
    assert change.device.backing.fileName == "[ds2]" and change.device.capacityInKB == source.capacityInKB
    assert change.device.backing.thinProvisioned == source.backing.thinProvisioned
    _c, eager, _b = build(SNAP, disk_provisioning="eager")
    backing = added(eager, vim.vm.device.VirtualDisk)[0].backing
    assert backing.eagerlyScrub is True and backing.thinProvisioned is False


def test_existing_disks_are_attached_as_they_are_not_created():
    config, _spec, _b = build(SNAP)
    [source] = [d for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    _c, spec, builder = build(SNAP, target={"existing_disks": {source.key: "[vadp-x] web/web.vmdk"}})
    [change] = [c for c in spec.deviceChange if isinstance(c.device, vim.vm.device.VirtualDisk)]
    assert change.fileOperation is None and change.device.backing.fileName == "[vadp-x] web/web.vmdk"
    assert change.device.capacityInKB == source.capacityInKB and change.device.backing.parent is None
    assert builder.disks[0]["existing"] == "[vadp-x] web/web.vmdk" and builder.disks[0]["datastore"] == "vadp-x"


def test_cpu_feature_mask_becomes_cpuid_info_specs_with_operation_add():
    config, spec, _b = build()
    assert len(spec.cpuFeatureMask) == len(config.cpuFeatureMask) == 10
    assert all(isinstance(m, vim.vm.ConfigSpec.CpuIdInfoSpec) and m.operation == "add" for m in spec.cpuFeatureMask)
    assert [m.info.level for m in spec.cpuFeatureMask] == [m.level for m in config.cpuFeatureMask]
    assert min(m.info.level for m in spec.cpuFeatureMask) < 0  # negative 32-bit levels survive


def test_vapp_properties_are_carried_over():
    config, _spec, _b = build()
    config.vAppConfig = vim.vApp.VmConfigInfo(property=[vim.vApp.PropertyInfo(key=1, id="ip", value="10.0.0.5")],
                                              installBootRequired=False)
    spec = config_spec.SpecBuilder(config, {"datastore": "ds2", "networks": NETWORKS}, {"name": "n"}).build()
    [prop] = spec.vAppConfig.property
    assert prop.operation == "add" and prop.info.id == "ip" and prop.info.value == "10.0.0.5"


def test_firmware_boot_options_and_identity():
    config, spec, _b = build(SNAP)
    assert spec.firmware == config.firmware == "efi" and repr(spec.bootOptions) == repr(config.bootOptions)
    assert spec.uuid == config.uuid and spec.instanceUuid is None  # defaults: BIOS uuid kept, instance uuid new
    _c, renewed, _b = build(SNAP, uuid="new")
    assert renewed.uuid is None
    assert spec.numCPUs == config.hardware.numCPU and spec.memoryMB == config.hardware.memoryMB
    assert spec.changeTrackingEnabled is False  # CBT off while the disks are filled


def test_extra_config_filter():
    config, spec, builder = build()
    keys = [o.key for o in spec.extraConfig]
    assert "nvram" in builder.dropped_extra_config and "nvram" not in keys
    assert not any(k.endswith("pciSlotNumber") for k in keys)
    _c, allowed, _b = build(extra_config_allow=["nvram"])
    assert "nvram" in [o.key for o in allowed.extraConfig]
    config.extraConfig.append(vim.option.OptionValue(key="app.secret", value=config_spec.REDACTED))
    kept, dropped = config_spec.extra_config(config.extraConfig, [], [])
    assert "app.secret" in dropped and all(o.value != config_spec.REDACTED for o in kept)


def test_networks_are_mapped_or_refused():
    _config, spec, builder = build(SNAP, network_map={"dvportgroup-46": "Restore"})
    [nic] = added(spec, vim.vm.device.VirtualEthernetCard)
    assert nic.backing.port.portgroupKey == "dvportgroup-9" and builder.nics[0]["network"] == "Restore"
    with pytest.raises(config_spec.NetworkNotFoundError, match="dvportgroup-46.*network_map"):
        build(SNAP, network_map={})


def test_macs_kept_as_vsphere_allows_or_regenerated():
    _config, spec, _b = build()  # 00:0c:29 (not vCenter's range): a manual MAC
    [nic] = added(spec, vim.vm.device.VirtualEthernetCard)
    assert nic.addressType == "manual" and nic.macAddress == "00:0c:29:63:71:05"
    _c, snap, _b = build(SNAP, network_map={"dvportgroup-46": "Restore"})  # 00:50:56:8f: vCenter assigned it
    assert added(snap, vim.vm.device.VirtualEthernetCard)[0].addressType == "assigned"
    _c, fresh, _b = build(mac="regenerate")
    nic = added(fresh, vim.vm.device.VirtualEthernetCard)[0]
    assert nic.addressType == "generated" and nic.macAddress is None


def test_hardware_version_refused_or_lowered():
    with pytest.raises(config_spec.HardwareVersionError, match="vmx-14.*hardware_version: lower"):
        build(target={"versions": ["vmx-10", "vmx-13"]})
    _c, spec, builder = build(target={"versions": ["vmx-10", "vmx-13"]}, hardware_version="lower")
    assert spec.version == "vmx-13" and "lowered" in builder.notes[0]


def _with_rdm(config):
    disk = [d for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0]
    disk.backing = vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo(
        fileName="[ds1] vm/vm_1.vmdk", deviceName="vml.0200", lunUuid="0200aa", compatibilityMode="physicalMode",
        diskMode="independent_persistent")
    return config


@pytest.mark.parametrize("policy", ["remap", "as_vmdk", "skip"])
def test_rdm_policies(policy):
    config = _with_rdm(read_config_file(ALP1)[0])
    luns = {"naa.600": {"canonical_name": "naa.600", "uuid": "0200bb", "capacity_bytes": 1 << 30}}
    options = {"name": "n", "rdm_policy": policy, "rdm_map": {"0200aa": "naa.600"}}
    builder = config_spec.SpecBuilder(config, {"datastore": "ds2", "networks": NETWORKS, "luns": luns}, options)
    disks = added(builder.build(), vim.vm.device.VirtualDisk)
    backings = [type(d.backing).__name__.split(".")[-1] for d in disks]
    if policy == "remap":
        rdm = [d for d in disks if isinstance(d.backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)][0]
        assert rdm.backing.lunUuid == "0200bb" and rdm.backing.deviceName == "naa.600"  # the ConfigTarget's
    elif policy == "as_vmdk":
        assert backings == ["FlatVer2BackingInfo"] * 3
    else:
        assert len(disks) == 2 and "skip" in builder.notes[0]


def test_an_rdm_without_a_mapping_is_refused():
    config = _with_rdm(read_config_file(ALP1)[0])
    with pytest.raises(config_spec.RdmPolicyError, match="rdm_map"):
        config_spec.SpecBuilder(config, {"datastore": "ds2", "networks": NETWORKS}, {"name": "n"}).build()


def test_malformed_configs_are_refused_naming_the_field():
    with pytest.raises(ConfigInfoError, match="hardware.device"):
        load_config({"_typeName": "VirtualMachineConfigInfo", "name": "x"})
    with pytest.raises(ConfigInfoError, match=r"config.hardware.device\[0\]: unknown type 'VirtualTeleporter'"):
        load_config({"_typeName": "VirtualMachineConfigInfo", "hardware": {
            "_typeName": "VirtualHardware", "device": [{"_typeName": "VirtualTeleporter", "key": 1}]}})
    with pytest.raises(ConfigInfoError, match="numCPU: 'many' is not a valid int"):
        load_config({"_typeName": "VirtualMachineConfigInfo", "hardware": {"_typeName": "VirtualHardware", "numCPU": "many"}})
    with pytest.raises(ConfigInfoError, match="not text"):
        load_config(b"\x89PNG\r\n\x1a\n\xff\xfe")  # a binary file given as config_file
    config = copy.deepcopy(read_config_file(ALP1)[0])
    [disk] = [d for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][:1]
    disk.controllerKey = 4242
    with pytest.raises(config_spec.ConfigSpecError, match=r"controllerKey: 4242 is a key no device defines"):
        config_spec.check_config(config)


def _config_files(folder):
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith((".xml", ".json"))]


def test_every_format_reads_the_same_kind_of_config():
    files = _config_files(GENERATED)
    assert len(files) == 4  # govc XML, SOAP XML, pyVmomi JSON, vim25 JSON
    for path in files:
        config, unknown = read_config_file(path, "build-02" if path == TWO_VMS else None)
        assert isinstance(config, vim.vm.ConfigInfo) and config.hardware.device and config.name and not unknown
        config_spec.check_config(config)
    with pytest.raises(ConfigInfoError, match="2 VM configs .*config_vm"):
        read_config_file(TWO_VMS)


def test_every_third_party_capture_reads():
    folder = third_party_configinfo()
    if folder is None:
        pytest.skip("no third-party captures: VADP_CONFIGINFO_FIXTURES names none")
    for path in _config_files(folder):
        config, _unknown = read_config_file(path, "Jenkins02" if "pyvmomi" in path else None)
        assert isinstance(config, vim.vm.ConfigInfo) and config.hardware.device and config.name
        config_spec.check_config(config)


def test_the_generated_fixtures_are_what_the_script_writes(tmp_path):
    """The committed files are the generator's output: a hand edit or a stale file shows here."""
    loader = importlib.util.spec_from_file_location("generate", os.path.join(GENERATED, "generate.py"))
    generate = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(generate)
    generate.main(str(tmp_path))
    for name in os.listdir(tmp_path):
        with open(generated(name)) as committed:
            assert committed.read() == (tmp_path / name).read_text(), name


def test_a_map_key_that_names_nothing_in_the_config_is_refused():
    """A misspelt key must not leave a NIC on the production network or a disk on its datastore."""
    with pytest.raises(config_spec.MapKeyUnknownError, match="network_map names 'dvportgroup-64'.*it has 'dvportgroup-46'"):
        build(SNAP, network_map={"dvportgroup-64": "Restore"})
    config, _spec, _b = build(SNAP)
    [datastore] = {config_spec._datastore_of(config.files.vmPathName)}
    with pytest.raises(config_spec.MapKeyUnknownError, match="datastore_map names 'no-such-ds'") as caught:
        build(SNAP, target={"datastore_map": {"no-such-ds": "ds2"}})
    assert repr(datastore) in caught.value.message and caught.value.error_code == "MAP_KEY_UNKNOWN"
    build(SNAP, target={"datastore_map": {datastore: "ds2"}})  # a key the config uses is fine


def test_a_recreated_vm_carries_the_recovery_mark():
    _config, spec, _b = build(recovery_of="5003-source")
    assert [(o.key, o.value) for o in spec.extraConfig if o.key == config_spec.RECOVERY_MARK_KEY] == [
        (config_spec.RECOVERY_MARK_KEY, "5003-source")]


def test_the_boot_order_names_the_new_vm_s_devices():
    """CreateVM gets no boot entry that names a device by the source's key; afterwards the order
    is put back with the keys the new VM's disks and NICs have."""
    config, _unknown = read_config_file(ALP1)
    disks = [d for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    nics = [d for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    config.bootOptions.bootOrder = [vim.vm.BootOptions.BootableDiskDevice(deviceKey=disks[-1].key),
                                    vim.vm.BootOptions.BootableCdromDevice(),
                                    vim.vm.BootOptions.BootableEthernetDevice(deviceKey=nics[0].key)]
    spec = config_spec.SpecBuilder(config, {"datastore": "ds2", "networks": NETWORKS}, {"name": "new"}).build()
    assert [type(e).__name__ for e in spec.bootOptions.bootOrder] == ["vim.vm.BootOptions.BootableCdromDevice"]
    assert config.bootOptions.bootOrder[0].deviceKey == disks[-1].key  # the saved config is not changed
    created = copy.deepcopy(config)  # the new VM: the same devices under keys the host chose
    for device in created.hardware.device:
        device.key += 1000
        if device.controllerKey is not None:
            device.controllerKey += 1000
    boot = config_spec.boot_order_spec(config, created)
    assert [getattr(e, "deviceKey", None) for e in boot.bootOrder] == [disks[-1].key + 1000, None, nics[0].key + 1000]
    config.bootOptions.bootOrder = config.bootOptions.bootOrder[1:2]
    assert config_spec.boot_order_spec(config, created) is None  # nothing keyed: nothing to do


@pytest.mark.parametrize("field, value, message", [
    ("numCPU", 0, "numCPU: 0 virtual CPUs; a VM has 1 to 768"),
    ("numCPU", 4096, "numCPU: 4096 virtual CPUs"),
    ("numCoresPerSocket", 3, "cannot be grouped in sockets of 3 cores"),
    ("memoryMB", 1 << 40, "memoryMB: %d MB; a VM has 4 MB to 25165824 MB" % (1 << 40)),
    ("memoryMB", 1022, "a multiple of 4 MB"),
    ("duplicate key", None, "key .* is also another device's"),
])
def test_what_vcenter_refuses_in_a_saved_config_is_refused_first(field, value, message):
    """A damaged or hand-edited saved configuration is named, field and all, before anything is
    created (the lab refuses the same at CreateVM, as vCenter does)."""
    config = copy.deepcopy(read_config_file(ALP1)[0])
    config.hardware.numCPU, config.hardware.numCoresPerSocket = 4, 2
    if field == "duplicate key":
        config.hardware.device[-1].key = config.hardware.device[-2].key
    else:
        setattr(config.hardware, field, value)
    with pytest.raises(config_spec.ConfigSpecError, match=message) as caught:
        config_spec.check_config(config)
    assert caught.value.error_code == "CONFIG_INVALID"


@pytest.mark.parametrize("name, refused", [("a" * 80, False), ("a" * 81, True), ("web/" * 14, True), ("", True),
                                           ("web/01", False)])
def test_a_name_vcenter_cannot_hold_is_refused(name, refused):
    if refused:
        with pytest.raises(config_spec.ConfigSpecError, match="vCenter takes names of 1 to 80 characters"):
            config_spec.check_name(name)
    else:
        config_spec.check_name(name)
