// Lab extension: the guest boots only from a bootable disk, as firmware decides at power-on. BIOS
// boots a disk whose first sector ends with the boot signature 55 AA; EFI boots a disk whose GPT
// has an EFI System Partition. The disks tried are the bootOrder's disks in order, or without a
// bootOrder the VM's first disk. A guest that did not boot runs no VMware Tools and reports no IP.
// Whether it booted is decided at power-on, reset and guest reboot: a running guest that later
// overwrites its own boot sector keeps running, as a real one does.

package simulator

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/vmware/govmomi/vim25/types"

	"vadplab/vdisk"
)

// the EFI System Partition's type GUID, C12A7328-F81F-11D2-BA4B-00A0C93EC93B, as GPT stores it
var labESPType = []byte{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}

// labBooted holds, per VM, whether its guest booted at the last power-on (absent: it did not).
var labBooted = map[types.ManagedObjectReference]bool{}

func labEFI(vm *VirtualMachine) bool {
	return vm.Config.Firmware == string(types.GuestOsDescriptorFirmwareTypeEfi)
}

// labBootDisks are the disks firmware tries, in order.
func labBootDisks(vm *VirtualMachine) []*types.VirtualDisk {
	var ordered []*types.VirtualDisk
	if vm.Config.BootOptions != nil {
		for _, device := range vm.Config.BootOptions.BootOrder {
			if d, ok := device.(*types.VirtualMachineBootOptionsBootableDiskDevice); ok {
				if disk := labDiskByKey(vm, d.DeviceKey); disk != nil {
					ordered = append(ordered, disk)
				}
			}
		}
		if len(vm.Config.BootOptions.BootOrder) > 0 {
			return ordered
		}
	}
	if disks := labDisks(vm); len(disks) > 0 {
		ordered = disks[:1]
	}
	return ordered
}

func labReadSectors(vm *VirtualMachine, disk *types.VirtualDisk, first, count int64) ([]byte, error) {
	local, fault := labLocalPath(vm, disk.Backing.(*flatBacking).FileName)
	if fault != nil {
		return nil, fmt.Errorf("%s", labFaultMessage(fault))
	}
	chain, err := vdisk.Open(local, true, false)
	if err != nil {
		return nil, err
	}
	defer chain.Close()
	data := make([]byte, count*vdisk.SectorSize)
	return data, chain.ReadAt(data, first*vdisk.SectorSize)
}

// labDiskBoots says whether firmware would boot from disk.
func labDiskBoots(vm *VirtualMachine, disk *types.VirtualDisk) bool {
	if !labEFI(vm) {
		mbr, err := labReadSectors(vm, disk, 0, 1)
		return err == nil && mbr[510] == 0x55 && mbr[511] == 0xaa
	}
	header, err := labReadSectors(vm, disk, 1, 1)
	if err != nil || !bytes.Equal(header[:8], []byte("EFI PART")) {
		return false
	}
	entriesLBA := int64(binary.LittleEndian.Uint64(header[72:]))
	count, size := int64(binary.LittleEndian.Uint32(header[80:])), int64(binary.LittleEndian.Uint32(header[84:]))
	if size < 16 || count < 1 || count > 1024 {
		return false
	}
	entries, err := labReadSectors(vm, disk, entriesLBA, (count*size+vdisk.SectorSize-1)/vdisk.SectorSize)
	if err != nil {
		return false
	}
	for i := int64(0); i < count; i++ {
		if bytes.Equal(entries[i*size:i*size+16], labESPType) {
			return true
		}
	}
	return false
}

// labBoot is the firmware at power-on: the guest runs if a boot disk boots.
func labBoot(vm *VirtualMachine) {
	booted := false
	for _, disk := range labBootDisks(vm) {
		if booted = labDiskBoots(vm, disk); booted {
			labReadServices(vm, disk)
			break
		}
	}
	labBooted[vm.Self] = booted
}

// labInstallBootSector makes the VM's boot disk bootable, as installing a guest OS does: an MBR
// with one partition and the boot signature (BIOS), or a GPT with an EFI System Partition (EFI).
func labInstallBootSector(vm *VirtualMachine) error {
	disks := labBootDisks(vm)
	if len(disks) == 0 {
		return fmt.Errorf("%s has no disk to boot from", vm.Name)
	}
	disk := disks[0]
	local, fault := labLocalPath(vm, disk.Backing.(*flatBacking).FileName)
	if fault != nil {
		return fmt.Errorf("%s", labFaultMessage(fault))
	}
	chain, err := vdisk.Open(local, false, false)
	if err != nil {
		return err
	}
	defer chain.Close()
	sectors := make([]byte, 3*vdisk.SectorSize)
	mbr := sectors[:vdisk.SectorSize]
	copy(mbr, fmt.Sprintf("vadp.vsphere lab boot sector: VM %s\n", vm.Name))
	entry := mbr[446:462]
	entry[4] = 0x83 // one Linux partition from sector 2048
	if labEFI(vm) {
		entry[4] = 0xee // the protective MBR of a GPT disk
		header := sectors[vdisk.SectorSize : 2*vdisk.SectorSize]
		copy(header, "EFI PART")
		binary.LittleEndian.PutUint64(header[72:], 2) // the partition entries start at LBA 2
		binary.LittleEndian.PutUint32(header[80:], 4)
		binary.LittleEndian.PutUint32(header[84:], 128)
		copy(sectors[2*vdisk.SectorSize:], labESPType)
	}
	binary.LittleEndian.PutUint32(entry[8:], 2048)
	mbr[510], mbr[511] = 0x55, 0xaa
	if err := chain.WriteAt(sectors, 0); err != nil {
		return err
	}
	labRecordWrite(vm, disk.Key, 0, int64(len(sectors)))
	return nil
}
