"""Disk facts from real pyVmomi device objects: leaf file, parent chain, controllers, RDM."""
from pyVmomi import vim

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import disks_of, snapshot_tree

Disk = vim.vm.device.VirtualDisk


def _config(devices):
    return vim.vm.ConfigInfo(hardware=vim.vm.VirtualHardware(device=devices))


def test_leaf_file_and_parent_chain_of_a_disk_under_two_snapshots():
    base = Disk.FlatVer2BackingInfo(fileName="[ds1] web01/web01.vmdk", thinProvisioned=False, eagerlyScrub=True)
    middle = Disk.FlatVer2BackingInfo(fileName="[ds1] web01/web01-000001.vmdk", parent=base)
    leaf = Disk.FlatVer2BackingInfo(fileName="[ds1] web01/web01-000002.vmdk", parent=middle, thinProvisioned=False,
                                    eagerlyScrub=True, diskMode="persistent", changeId="52 aa/7")
    controller = vim.vm.device.ParaVirtualSCSIController(key=1000, busNumber=1)
    disk = Disk(key=2000, controllerKey=1000, unitNumber=3, capacityInKB=4096, backing=leaf,
                deviceInfo=vim.Description(label="Hard disk 1", summary=""))
    [facts] = disks_of(_config([controller, disk]))
    assert facts["file_name"] == "[ds1] web01/web01-000002.vmdk"
    assert facts["parent_chain"] == ["[ds1] web01/web01-000001.vmdk", "[ds1] web01/web01.vmdk"]
    assert facts["base_file_name"] == "[ds1] web01/web01.vmdk"
    assert (facts["controller_type"], facts["address"], facts["provisioning"]) == ("pvscsi", "scsi1:3", "eager_zeroed")
    assert facts["capacity_bytes"] == 4096 * 1024 and facts["change_id"] == "52 aa/7"


def test_rdm_and_sata_and_lsilogic_sas():
    sas = vim.vm.device.VirtualLsiLogicSASController(key=1000, busNumber=0)
    sata = vim.vm.device.VirtualAHCIController(key=15000, busNumber=0)
    rdm = Disk(key=2001, controllerKey=1000, unitNumber=1, capacityInBytes=1 << 30,
               backing=Disk.RawDiskMappingVer1BackingInfo(
                   fileName="[ds1] db/db_1.vmdk", compatibilityMode="physicalMode",
                   deviceName="/vmfs/devices/disks/naa.600a0b80001111550000", lunUuid="0200000000600a0b8000"))
    thin = Disk(key=16000, controllerKey=15000, unitNumber=0, capacityInBytes=1 << 20,
                backing=Disk.FlatVer2BackingInfo(fileName="[ds1] db/db.vmdk", thinProvisioned=True))
    facts = disks_of(_config([sas, sata, thin, rdm]))
    assert [f["key"] for f in facts] == [2001, 16000]
    assert facts[0]["backing_type"] == "rdm" and facts[0]["controller_type"] == "lsilogicsas"
    assert facts[0]["rdm"] == {"compatibility_mode": "physicalMode",
                               "device_name": "/vmfs/devices/disks/naa.600a0b80001111550000",
                               "lun_uuid": "0200000000600a0b8000"}
    assert facts[0]["provisioning"] is None
    assert (facts[1]["address"], facts[1]["provisioning"], facts[1]["rdm"]) == ("sata0:0", "thin", None)


def test_snapshot_tree_keeps_every_branch():
    def node(name, moid, children=()):
        return vim.vm.SnapshotTree(name=name, id=int(moid.split("-")[1]), description="", quiesced=False,
                                   state="poweredOff", snapshot=vim.vm.Snapshot(moid),
                                   childSnapshotList=list(children))
    tree = vim.vm.SnapshotInfo(
        rootSnapshotList=[node("base", "snapshot-1", [node("a", "snapshot-2"), node("b", "snapshot-3")])],
        currentSnapshot=vim.vm.Snapshot("snapshot-3"))
    roots, current = snapshot_tree(tree)
    assert current == "snapshot-3"
    assert [c["name"] for c in roots[0]["children"]] == ["a", "b"]
    assert roots[0]["children"][1]["current"] is True and roots[0]["current"] is False
