// Lab extension: SAN LUNs for Raw Device Mappings. QueryConfigTarget lists them in scsiDisk;
// every host's config.storageDevice shows the same LUNs under a different uuid, as vSphere does
// (docs/vsphere-rules.md, rule D.1: only the ConfigTarget uuid works as an RDM's lunUuid). An RDM backing in
// CreateVM / ReconfigVM is accepted only for a listed LUN, with the ConfigTarget uuid, and when
// no other RDM uses it; its mapping file points at the LUN's data (a sparse image file).

package simulator

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/vim25/types"

	"vadplab/vdisk"
)

type labLUN struct {
	canonical  string
	targetUUID string // what QueryConfigTarget reports, and an RDM needs
	hostUUID   string // what the host's own storage device list reports
	capacity   int64
	number     int32
	image      string
}

var labLUNs []labLUN

func (l labLUN) devicePath() string { return "/vmfs/devices/disks/" + l.canonical }

// LabAddLUNs creates count LUNs of size bytes whose data lives under dir, and shows them in
// every host's storage devices.
func LabAddLUNs(dir string, count int, size int64) error {
	labMu.Lock()
	defer labMu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i := 1; i <= count; i++ {
		naa := fmt.Sprintf("6000c2%026x", 0xadb00+i)
		lun := labLUN{
			canonical:  "naa." + naa,
			targetUUID: fmt.Sprintf("0200%02x0000%s566972747561", i, naa),
			hostUUID:   fmt.Sprintf("0100%02x0000%s4c6162484f53", i, naa),
			capacity:   size,
			number:     int32(i),
			image:      filepath.Join(dir, "naa."+naa+".img"),
		}
		f, err := os.Create(lun.image)
		if err != nil {
			return err
		}
		err = f.Truncate(size)
		f.Close()
		if err != nil {
			return err
		}
		labLUNs = append(labLUNs, lun)
	}
	for _, e := range Map.All("HostSystem") {
		host := e.(*HostSystem)
		if host.Config == nil || host.Config.StorageDevice == nil {
			continue
		}
		for _, lun := range labLUNs {
			disk := lun.scsiDisk(lun.hostUUID)
			host.Config.StorageDevice.ScsiLun = append(host.Config.StorageDevice.ScsiLun, &disk)
		}
	}
	return nil
}

func (l labLUN) scsiDisk(uuid string) types.HostScsiDisk {
	return types.HostScsiDisk{
		ScsiLun: types.ScsiLun{
			HostDevice:    types.HostDevice{DeviceName: l.devicePath(), DeviceType: "disk"},
			Key:           "key-vim.host.ScsiDisk-" + uuid,
			Uuid:          uuid,
			CanonicalName: l.canonical,
			DisplayName:   "Lab Fibre Channel Disk (" + l.canonical + ")",
			LunType:       "disk",
			Vendor:        "LABSAN  ",
			Model:         "Virtual LUN     ",
		},
		Capacity:   types.HostDiskDimensionsLba{BlockSize: vdisk.SectorSize, Block: l.capacity / vdisk.SectorSize},
		DevicePath: l.devicePath(),
	}
}

// labConfigTargetDisks is ConfigTarget.scsiDisk: every lab LUN, with the uuid an RDM must use.
func labConfigTargetDisks() []types.VirtualMachineScsiDiskDeviceInfo {
	labMu.Lock()
	defer labMu.Unlock()
	var disks []types.VirtualMachineScsiDiskDeviceInfo
	for _, lun := range labLUNs {
		disk := lun.scsiDisk(lun.targetUUID)
		disks = append(disks, types.VirtualMachineScsiDiskDeviceInfo{
			VirtualMachineDiskDeviceInfo: types.VirtualMachineDiskDeviceInfo{
				VirtualMachineTargetInfo: types.VirtualMachineTargetInfo{Name: lun.devicePath()},
				Capacity:                 lun.capacity,
			},
			Disk:          &disk,
			TransportHint: "fc",
			LunNumber:     lun.number,
		})
	}
	return disks
}

// labRDMUser is the VM (other than except's disk) whose RDM maps lunUUID, if any.
func labRDMUser(lunUUID string, except *types.VirtualDisk) *VirtualMachine {
	for _, e := range Map.All("VirtualMachine") {
		vm := e.(*VirtualMachine)
		if vm.Config == nil {
			continue
		}
		for _, d := range vm.Config.Hardware.Device {
			disk, ok := d.(*types.VirtualDisk)
			if !ok || disk == except {
				continue
			}
			if b, ok := disk.Backing.(*types.VirtualDiskRawDiskMappingVer1BackingInfo); ok && b.LunUuid == lunUUID {
				return vm
			}
		}
	}
	return nil
}

// labAttachRDM checks an RDM backing as vSphere does and writes its mapping file.
func labAttachRDM(vm *VirtualMachine, disk *types.VirtualDisk, b *types.VirtualDiskRawDiskMappingVer1BackingInfo) types.BaseMethodFault {
	var lun *labLUN
	for i := range labLUNs {
		if b.DeviceName == labLUNs[i].canonical || b.DeviceName == labLUNs[i].devicePath() {
			lun = &labLUNs[i]
		}
	}
	// vSphere refuses all three alike, without saying why.
	if lun == nil || b.LunUuid != lun.targetUUID || labRDMUser(b.LunUuid, disk) != nil {
		return &types.InvalidDeviceBacking{}
	}
	local, fault := labLocalPath(vm, b.FileName)
	if fault != nil {
		return fault
	}
	stem := strings.TrimSuffix(local, ".vmdk")
	_ = removeIfExists(stem + "-flat.vmdk")
	suffix, createType := "-rdm.vmdk", "vmfsRawDeviceMap"
	if b.CompatibilityMode == string(types.VirtualDiskCompatibilityModePhysicalMode) {
		suffix, createType = "-rdmp.vmdk", "vmfsPassthroughRawDeviceMap"
	}
	mapping := stem + suffix
	_ = removeIfExists(mapping)
	if err := os.Symlink(lun.image, mapping); err != nil {
		return labFault(err)
	}
	d := &vdisk.Descriptor{Version: 1, CID: "fffffffe", ParentCID: vdisk.NoParentCID, CreateType: createType,
		ExtentFile: filepath.Base(mapping), ExtentType: "VMFSRDM", Sectors: lun.capacity / vdisk.SectorSize,
		DDB: map[string]string{"adapterType": "lsilogic", "virtualHWVersion": "13"}}
	if err := d.Write(local); err != nil {
		return labFault(err)
	}
	disk.CapacityInBytes = lun.capacity
	disk.CapacityInKB = lun.capacity / 1024
	return nil
}

// labLayoutBacking stands in for a non-flat disk's backing where the file layout is computed.
func labLayoutBacking(disk *types.VirtualDisk) *types.VirtualDiskFlatVer2BackingInfo {
	b := &types.VirtualDiskFlatVer2BackingInfo{}
	if file, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
		b.FileName = file.GetVirtualDeviceFileBackingInfo().FileName
	}
	return b
}

// labConfigOptionDescriptors lists the hardware versions an ESXi 7.0U3 host creates and runs
// (vmx-4 to vmx-19), where the stock simulator offers only vmx-13: restoring a VM of another
// version must meet the same choice as on a real host.
func labConfigOptionDescriptors(hosts []types.ManagedObjectReference) []types.VirtualMachineConfigOptionDescriptor {
	var descriptors []types.VirtualMachineConfigOptionDescriptor
	for _, v := range []int{4, 7, 8, 9, 10, 11, 13, 14, 15, 17, 18, 19} {
		key := fmt.Sprintf("vmx-%02d", v)
		descriptors = append(descriptors, types.VirtualMachineConfigOptionDescriptor{
			Key: key, Description: "ESXi 7.0 U3 supports " + key, Host: hosts,
			CreateSupported: types.NewBool(true), DefaultConfigOption: types.NewBool(v == 19),
			RunSupported: types.NewBool(true), UpgradeSupported: types.NewBool(true),
		})
	}
	return descriptors
}
