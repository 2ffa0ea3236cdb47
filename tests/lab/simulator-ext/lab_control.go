// Lab extension: what the lab's control endpoint and start-up call (package main cannot reach
// the simulator's internals): disk contents for the stock inventory, guest writes, inspection.

package simulator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand"

	"github.com/vmware/govmomi/vim25/types"

	"vadplab/vdisk"
)

// LabFindVM finds a VM by moid or name.
func LabFindVM(id string) (*VirtualMachine, error) {
	var found []*VirtualMachine
	for _, e := range Map.All("VirtualMachine") {
		vm := e.(*VirtualMachine)
		if vm.Self.Value == id || vm.Name == id {
			found = append(found, vm)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no VM %q", id)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%d VMs are named %q; use the moid", len(found), id)
}

// LabIsolatedNetwork is a port group on a vSwitch without uplinks on every host, as sites keep
// for recovery drills: a VM there reaches nothing outside.
const LabIsolatedNetwork = "Isolated Network"

// LabPrepareInventory gives every stock VM's disks the given capacity and deterministic,
// varied content: a header naming the disk in its first sector and 16 regions of 256 KiB of
// pseudo-random data at pseudo-random places; the rest reads as zeros (a thin disk). Its first
// disk gets a boot sector, and every host the isolated port group.
func LabPrepareInventory(capacity int64) error {
	labMu.Lock()
	defer labMu.Unlock()
	for _, e := range Map.All("HostSystem") {
		s, ok := Map.Get(*e.(*HostSystem).ConfigManager.NetworkSystem).(*HostNetworkSystem)
		if !ok {
			continue
		}
		s.AddVirtualSwitch(&types.AddVirtualSwitch{VswitchName: "vSwitchIsolated"})
		// the port group's Network object is made once per datacenter: later hosts meet DuplicateName
		s.AddPortGroup(internalContext, &types.AddPortGroup{Portgrp: types.HostPortGroupSpec{
			Name: LabIsolatedNetwork, VswitchName: "vSwitchIsolated"}})
	}
	for _, e := range Map.All("VirtualMachine") {
		vm := e.(*VirtualMachine)
		for _, disk := range labDisks(vm) {
			backing := disk.Backing.(*flatBacking)
			backing.ThinProvisioned = types.NewBool(true)
			local, fault := labLocalPath(vm, backing.FileName)
			if fault != nil {
				return fmt.Errorf("%s: %s", vm.Name, labFaultMessage(fault))
			}
			disk.CapacityInBytes = capacity
			if fault := labRecreateDisk(disk, backing, local); fault != nil {
				return fmt.Errorf("%s: cannot create %s", vm.Name, backing.FileName)
			}
			if err := labFillDisk(local, vm.Name, disk.Key, capacity); err != nil {
				return err
			}
		}
		vm.updateDiskLayouts()
		if err := labInstallBootSector(vm); err != nil { // the inventory's VMs have a guest OS
			return err
		}
		if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			labBoot(vm)
		}
		labSetToolsState(vm)
	}
	return nil
}

func labFillDisk(local, vmName string, key int32, capacity int64) error {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", vmName, key)
	random := rand.New(rand.NewSource(int64(h.Sum64())))
	chain, err := vdisk.Open(local, false, false)
	if err != nil {
		return err
	}
	defer chain.Close()
	header := make([]byte, vdisk.SectorSize)
	copy(header, fmt.Sprintf("vadp.vsphere lab disk: VM %s, device %d\n", vmName, key))
	if err := chain.WriteAt(header, 0); err != nil {
		return err
	}
	region := make([]byte, 256*1024)
	blocks := capacity / int64(len(region))
	for i := 0; i < 16 && blocks > 1; i++ {
		random.Read(region)
		offset := (1 + random.Int63n(blocks-1)) * int64(len(region))
		if err := chain.WriteAt(region, offset); err != nil {
			return err
		}
	}
	return nil
}

// LabGuestWrite writes data at offset of a disk of a powered-on VM, through its current leaf,
// as the guest would: change tracking sees it.
// deviceKey 0 means the VM's first disk.
func LabGuestWrite(vmID string, deviceKey int32, offset int64, data []byte) (map[string]interface{}, error) {
	vm, err := LabFindVM(vmID)
	if err != nil {
		return nil, err
	}
	var result map[string]interface{}
	Map.WithLock(vm, func() {
		labMu.Lock()
		defer labMu.Unlock()
		result, err = labGuestWrite(vm, deviceKey, offset, data)
	})
	return result, err
}

func labGuestWrite(vm *VirtualMachine, deviceKey int32, offset int64, data []byte) (map[string]interface{}, error) {
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		return nil, fmt.Errorf("%s is %s: a guest writes only while the VM runs", vm.Name, vm.Runtime.PowerState)
	}
	disks := labDisks(vm)
	if len(disks) == 0 {
		return nil, fmt.Errorf("%s has no disk", vm.Name)
	}
	disk := disks[0]
	if deviceKey != 0 {
		if disk = labDiskByKey(vm, deviceKey); disk == nil {
			return nil, fmt.Errorf("%s has no disk with key %d", vm.Name, deviceKey)
		}
	}
	leaf := disk.Backing.(*flatBacking).FileName
	local, fault := labLocalPath(vm, leaf)
	if fault != nil {
		return nil, fmt.Errorf("%s: %s", leaf, labFaultMessage(fault))
	}
	chain, err := vdisk.Open(local, false, false)
	if err != nil {
		return nil, err
	}
	defer chain.Close()
	length := int64(len(data))
	if err := chain.WriteAt(data, offset); err != nil {
		return nil, err
	}
	labRecordWrite(vm, disk.Key, offset, offset+length)
	labMirrorWrite(vm, disk.Key, offset, offset+length)
	return map[string]interface{}{"vm": vm.Name, "device_key": disk.Key, "file": leaf, "offset": offset, "length": length}, nil
}

// LabInspect describes a VM's disks as the lab sees them: chain, capacity, allocated bytes and
// the SHA-256 of the whole logical content.
func LabInspect(vmID string) (map[string]interface{}, error) {
	vm, err := LabFindVM(vmID)
	if err != nil {
		return nil, err
	}
	var disks []map[string]interface{}
	Map.WithLock(vm, func() {
		labMu.Lock()
		defer labMu.Unlock()
		for _, disk := range labDisks(vm) {
			var report map[string]interface{}
			if report, err = labInspectDisk(vm, disk); err != nil {
				return
			}
			disks = append(disks, report)
		}
	})
	if err != nil {
		return nil, err
	}
	return map[string]interface{}{"vm": vm.Name, "moid": vm.Self.Value, "power_state": vm.Runtime.PowerState, "disks": disks}, nil
}

func labInspectDisk(vm *VirtualMachine, disk *types.VirtualDisk) (map[string]interface{}, error) {
	var chainNames []string
	for b := disk.Backing.(*flatBacking); b != nil; b = b.Parent {
		chainNames = append(chainNames, b.FileName)
	}
	local, fault := labLocalPath(vm, chainNames[0])
	if fault != nil {
		return nil, fmt.Errorf("%s: %s", chainNames[0], labFaultMessage(fault))
	}
	chain, err := vdisk.Open(local, true, false)
	if err != nil {
		return nil, err
	}
	defer chain.Close()
	sum := sha256.New()
	buf := make([]byte, 4<<20)
	for off := int64(0); off < chain.Capacity(); off += int64(len(buf)) {
		n := int64(len(buf))
		if rest := chain.Capacity() - off; rest < n {
			n = rest
		}
		if err := chain.ReadAt(buf[:n], off); err != nil {
			return nil, err
		}
		sum.Write(buf[:n])
	}
	var allocated int64
	for _, r := range chain.Allocated() {
		allocated += r[1] - r[0]
	}
	return map[string]interface{}{
		"key":             disk.Key,
		"label":           disk.DeviceInfo.GetDescription().Label,
		"file":            chainNames[0],
		"chain":           chainNames,
		"cid":             chain.Leaf().CID,
		"capacity":        chain.Capacity(),
		"allocated_bytes": allocated,
		"stored_bytes":    chain.AllocatedBytes(),
		"sha256":          hex.EncodeToString(sum.Sum(nil)),
	}, nil
}
