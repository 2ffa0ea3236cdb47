// Lab extension, compiled into govmomi's simulator package by `lab build` (see docs/lab.md):
// every virtual disk is a real VMDK (vadplab/vdisk), snapshots build delta chains as ESXi does,
// and revert, remove and remove-all act on the files, with ESXi's CID rules.

package simulator

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"vadplab/vdisk"
)

type flatBacking = types.VirtualDiskFlatVer2BackingInfo

// labSnapshotDisks records, per snapshot, each disk's backing at the moment it was taken: the
// file that became read-only and the chain below it.
var labSnapshotDisks = map[types.ManagedObjectReference]map[int32]*flatBacking{}

// labLocalPath turns "[LocalDS_0] vm/disk.vmdk" into the file on this machine.
func labLocalPath(vm *VirtualMachine, name string) (string, types.BaseMethodFault) {
	dc := Map.getEntityDatacenter(vm)
	return Map.FileManager().resolve(&dc.Self, name)
}

func labFault(err error) types.BaseMethodFault {
	if vdisk.CIDMismatch(err) {
		// ESXi's words for it, then the lab's detail.
		return &types.GenericVmConfigFault{Reason: "The parent virtual disk has been modified since the child was created. " +
			"The content ID of the parent virtual disk does not match the corresponding parent content ID in the child (" +
			err.Error() + ")"}
	}
	return &types.FileFault{File: err.Error()}
}

func labProvisioning(b *flatBacking) vdisk.Provisioning {
	switch {
	case b.ThinProvisioned != nil && *b.ThinProvisioned:
		return vdisk.Thin
	case b.EagerlyScrub != nil && *b.EagerlyScrub:
		return vdisk.EagerZeroed
	}
	return vdisk.LazyZeroed
}

func labCapacity(disk *types.VirtualDisk) int64 {
	if disk.CapacityInBytes > 0 {
		return disk.CapacityInBytes
	}
	return disk.CapacityInKB * 1024
}

// labDiskAttached runs when CreateVM or ReconfigVM adds a disk. A new disk (fileOperation create
// or replace, or an empty placeholder) becomes a real VMDK of the disk's capacity.
func labDiskAttached(vm *VirtualMachine, disk *types.VirtualDisk, op types.VirtualDeviceConfigSpecFileOperation) types.BaseMethodFault {
	if rdm, ok := disk.Backing.(*types.VirtualDiskRawDiskMappingVer1BackingInfo); ok {
		return labAttachRDM(vm, disk, rdm)
	}
	backing, ok := disk.Backing.(*flatBacking)
	if !ok {
		return nil
	}
	local, fault := labLocalPath(vm, backing.FileName)
	if fault != nil {
		return fault
	}
	if op == "" {
		if _, err := vdisk.ReadDescriptor(local); err == nil {
			return nil // an existing disk attached as it is
		}
	}
	return labRecreateDisk(disk, backing, local)
}

// labRecreateDisk replaces whatever is at local with a blank disk of the device's capacity.
func labRecreateDisk(disk *types.VirtualDisk, backing *flatBacking, local string) types.BaseMethodFault {
	capacity := labCapacity(disk)
	capacity -= capacity % vdisk.SectorSize
	for _, name := range []string{local, strings.TrimSuffix(local, ".vmdk") + "-flat.vmdk"} {
		_ = removeIfExists(name)
	}
	err := vdisk.Create(local, vdisk.CreateOptions{Capacity: capacity, Provisioning: labProvisioning(backing)})
	if err != nil {
		return labFault(err)
	}
	disk.CapacityInBytes = capacity
	disk.CapacityInKB = capacity / 1024
	if d, err := vdisk.ReadDescriptor(local); err == nil {
		backing.Uuid = labBackingUUID(d.DDB["uuid"])
	}
	return nil
}

// labBackingUUID turns the descriptor's "60 00 c2 9a ...-..." into vSphere's 6000C29a-... form.
func labBackingUUID(ddb string) string {
	hex := strings.NewReplacer(" ", "", "-", "").Replace(ddb)
	if len(hex) != 32 {
		return ""
	}
	return fmt.Sprintf("%s-%s-%s-%s-%s", strings.ToUpper(hex[:4])+hex[4:8], hex[8:12], hex[12:16], hex[16:20], hex[20:])
}

func labDisks(vm *VirtualMachine) []*types.VirtualDisk {
	var disks []*types.VirtualDisk
	for _, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
		if _, ok := d.(*types.VirtualDisk).Backing.(*flatBacking); ok {
			disks = append(disks, d.(*types.VirtualDisk))
		}
	}
	return disks
}

// labSetBacking gives the VM a new device list in which disk key has a new backing, so the
// config copies that snapshots keep are never changed behind their back.
func labSetBackings(vm *VirtualMachine, backings map[int32]*flatBacking) {
	devices := make([]types.BaseVirtualDevice, len(vm.Config.Hardware.Device))
	for i, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			if b, ok := backings[disk.Key]; ok {
				clone := *disk
				clone.Backing = b
				d = &clone
			}
		}
		devices[i] = d
	}
	vm.Config.Hardware.Device = devices
	vm.updateDiskLayouts()
}

// labNextDeltaName is "[ds] vm/disk-00000N.vmdk" with the lowest N not in use, as ESXi names them.
func labNextDeltaName(vm *VirtualMachine, leaf string) (string, string, types.BaseMethodFault) {
	stem := strings.TrimSuffix(leaf, ".vmdk")
	if i := strings.LastIndex(stem, "-"); i > 0 && len(stem)-i == 7 && strings.Trim(stem[i+1:], "0123456789") == "" {
		stem = stem[:i]
	}
	for n := 1; n < 1000000; n++ {
		name := fmt.Sprintf("%s-%06d.vmdk", stem, n)
		local, fault := labLocalPath(vm, name)
		if fault != nil {
			return "", "", fault
		}
		if !fileExists(local) {
			return name, local, nil
		}
	}
	return "", "", &types.FileFault{File: stem}
}

// labSnapshotCreated runs when CreateSnapshot has made the snapshot object: each disk's leaf
// becomes read-only and a new delta on top of it takes the VM's writes.
func labSnapshotCreated(vm *VirtualMachine, snapshot types.ManagedObjectReference) types.BaseMethodFault {
	labSyncChangeTracking(vm)
	frozen := map[int32]*flatBacking{}
	next := map[int32]*flatBacking{}
	for _, disk := range labDisks(vm) {
		leaf := disk.Backing.(*flatBacking)
		b, fault := labNewDelta(vm, leaf)
		if fault != nil {
			return fault
		}
		frozen[disk.Key], next[disk.Key] = leaf, b
	}
	labSnapshotDisks[snapshot] = frozen
	labSetBackings(vm, next)
	labAdvanceChangeIDs(vm, snapshot, frozen)
	return nil
}

// labNewDelta creates a delta on top of parent and returns its backing.
func labNewDelta(vm *VirtualMachine, parent *flatBacking) (*flatBacking, types.BaseMethodFault) {
	name, local, fault := labNextDeltaName(vm, parent.FileName)
	if fault != nil {
		return nil, fault
	}
	parentLocal, fault := labLocalPath(vm, parent.FileName)
	if fault != nil {
		return nil, fault
	}
	if err := vdisk.CreateDelta(parentLocal, local); err != nil {
		return nil, labFault(err)
	}
	child := *parent
	child.FileName = name
	child.Parent = parent
	child.ChangeId = ""
	return &child, nil
}

// labFilesInUse are the disk files still needed: the VM's current chains and every snapshot's.
func labFilesInUse(vm *VirtualMachine, except types.ManagedObjectReference) map[string]bool {
	used := map[string]bool{}
	mark := func(b *flatBacking) {
		for ; b != nil; b = b.Parent {
			used[b.FileName] = true
		}
	}
	for _, disk := range labDisks(vm) {
		mark(disk.Backing.(*flatBacking))
	}
	for _, ref := range labSnapshotsOf(vm) {
		if ref != except {
			for _, b := range labSnapshotDisks[ref] {
				mark(b)
			}
		}
	}
	return used
}

func labSnapshotsOf(vm *VirtualMachine) []types.ManagedObjectReference {
	if vm.Snapshot == nil {
		return nil
	}
	return allSnapshotsInTree(vm.Snapshot.RootSnapshotList)
}

// labRevertToSnapshot discards what the VM wrote since the snapshot: the current leaf goes
// (unless a snapshot still needs it) and a new delta on the snapshot's file takes the writes.
// A parent written after the snapshot (a SAN restore) is taken as it is now.
func labRevertToSnapshot(vm *VirtualMachine, snapshot types.ManagedObjectReference) types.BaseMethodFault {
	labSyncChangeTracking(vm)
	frozen, ok := labSnapshotDisks[snapshot]
	if !ok {
		return nil
	}
	next := map[int32]*flatBacking{}
	var discard []string
	for _, disk := range labDisks(vm) {
		base, ok := frozen[disk.Key]
		if !ok {
			continue
		}
		b, fault := labNewDelta(vm, base)
		if fault != nil {
			return fault
		}
		next[disk.Key] = b
		discard = append(discard, disk.Backing.(*flatBacking).FileName)
	}
	labSetBackings(vm, next)
	used := labFilesInUse(vm, types.ManagedObjectReference{})
	for _, name := range discard {
		if !used[name] {
			if local, fault := labLocalPath(vm, name); fault == nil {
				_ = vdisk.Remove(local)
			}
		}
	}
	return nil
}

// labRemoveSnapshot deletes a snapshot as ESXi does: the delta made when it was taken is merged
// into the snapshot's file, and chains above are re-linked. When the snapshot's file has several
// children (branches), the file stays until it can be merged. A CID mismatch fails the whole
// removal before anything changes, and the snapshot stays.
func labRemoveSnapshot(vm *VirtualMachine, snapshot types.ManagedObjectReference) types.BaseMethodFault {
	labSyncChangeTracking(vm)
	frozen, ok := labSnapshotDisks[snapshot]
	if !ok {
		return nil
	}
	merges := map[int32]string{} // disk key -> the child delta to merge into the frozen file
	for key, base := range frozen {
		children := labChildrenOf(vm, base.FileName, snapshot)
		if len(children) != 1 {
			continue
		}
		local, fault := labLocalPath(vm, children[0])
		if fault != nil {
			return fault
		}
		if err := labCheckParentCID(local); err != nil {
			return labFault(fmt.Errorf("cannot consolidate %s into %s: %w", children[0], base.FileName, err))
		}
		merges[key] = children[0]
	}
	delete(labSnapshotDisks, snapshot)
	delete(labSnapshotSeq, snapshot)
	if labSkipMerge[vm.Self] { // the removal leaves its delta: vSphere then asks for consolidation
		delete(labSkipMerge, vm.Self)
		for key, child := range merges {
			labPendingMerges[vm.Self] = append(labPendingMerges[vm.Self], labMergeJob{key, child})
		}
		vm.Runtime.ConsolidationNeeded = types.NewBool(true) // Map.Update cannot set a *bool
		return nil
	}
	for key, child := range merges {
		if fault := labMerge(vm, key, child); fault != nil {
			return fault
		}
	}
	return nil
}

// labChildrenOf lists the files whose parent is name, in the VM's chains and its snapshots'.
func labChildrenOf(vm *VirtualMachine, name string, except types.ManagedObjectReference) []string {
	seen := map[string]bool{}
	var children []string
	visit := func(b *flatBacking) {
		for ; b != nil && b.Parent != nil; b = b.Parent {
			if b.Parent.FileName == name && !seen[b.FileName] {
				seen[b.FileName] = true
				children = append(children, b.FileName)
			}
		}
	}
	for _, disk := range labDisks(vm) {
		visit(disk.Backing.(*flatBacking))
	}
	for _, ref := range labSnapshotsOf(vm) {
		if ref == except {
			continue
		}
		for _, b := range labSnapshotDisks[ref] {
			visit(b)
		}
	}
	return children
}

func labCheckParentCID(childLocal string) error {
	child, err := vdisk.ReadDescriptor(childLocal)
	if err != nil {
		return err
	}
	parent, err := vdisk.ReadDescriptor(vdisk.ParentPath(childLocal, child))
	if err != nil {
		return err
	}
	if child.ParentCID != parent.CID {
		return &vdisk.Error{Code: vdisk.CodeCIDMismatch, Text: fmt.Sprintf(
			"CID mismatch: %s expects parent CID %s, the parent has %s (it was written after the snapshot was taken)",
			filepath.Base(childLocal), child.ParentCID, parent.CID)}
	}
	return nil
}

// labMerge consolidates child into its parent and removes child from every chain that has it.
func labMerge(vm *VirtualMachine, key int32, child string) types.BaseMethodFault {
	local, fault := labLocalPath(vm, child)
	if fault != nil {
		return fault
	}
	grandchildren := labChildrenOf(vm, child, types.ManagedObjectReference{})
	parentLocal, err := vdisk.Consolidate(local)
	if err != nil {
		return labFault(err)
	}
	for _, name := range grandchildren {
		if l, fault := labLocalPath(vm, name); fault == nil {
			if err := vdisk.SetParent(l, parentLocal); err != nil {
				return labFault(err)
			}
		}
	}
	next := map[int32]*flatBacking{}
	for _, disk := range labDisks(vm) {
		if disk.Key == key {
			next[key] = labWithout(disk.Backing.(*flatBacking), child)
		}
	}
	for _, ref := range labSnapshotsOf(vm) {
		if b, ok := labSnapshotDisks[ref][key]; ok {
			labSnapshotDisks[ref][key] = labWithout(b, child)
		}
	}
	labSetBackings(vm, next)
	return nil
}

// labWithout is the chain b with the link named name taken out (new objects where it changes).
func labWithout(b *flatBacking, name string) *flatBacking {
	if b == nil {
		return nil
	}
	if b.FileName == name {
		if b.Parent == nil {
			return nil
		}
		merged := *b.Parent // the parent file now holds the child's content, keeps its place
		merged.ChangeId = b.ChangeId
		return &merged
	}
	parent := labWithout(b.Parent, name)
	if parent == b.Parent {
		return b
	}
	clone := *b
	clone.Parent = parent
	return &clone
}

// labRemoveAllSnapshots merges each disk's current chain into its base disk and deletes every
// other delta, as "Delete all" does. Every chain is checked first: a CID mismatch anywhere fails
// the task with nothing changed.
func labRemoveAllSnapshots(vm *VirtualMachine) types.BaseMethodFault {
	labSyncChangeTracking(vm)
	for _, disk := range labDisks(vm) {
		for b := disk.Backing.(*flatBacking); b.Parent != nil; b = b.Parent {
			local, fault := labLocalPath(vm, b.FileName)
			if fault != nil {
				return fault
			}
			if err := labCheckParentCID(local); err != nil {
				return labFault(fmt.Errorf("cannot consolidate %s: %w", b.FileName, err))
			}
		}
	}
	used := labFilesInUse(vm, types.ManagedObjectReference{})
	next := map[int32]*flatBacking{}
	for _, disk := range labDisks(vm) {
		var chain []*flatBacking
		for b := disk.Backing.(*flatBacking); b != nil; b = b.Parent {
			chain = append(chain, b)
		}
		base := chain[len(chain)-1]
		baseLocal, _ := labLocalPath(vm, base.FileName)
		for i := len(chain) - 2; i >= 0; i-- { // the delta right above the base first
			local, _ := labLocalPath(vm, chain[i].FileName)
			if err := vdisk.SetParent(local, baseLocal); err != nil {
				return labFault(err)
			}
			if _, err := vdisk.Consolidate(local); err != nil {
				return labFault(err)
			}
			delete(used, chain[i].FileName)
		}
		merged := *base
		merged.ChangeId = chain[0].ChangeId
		next[disk.Key] = &merged
		delete(used, base.FileName)
	}
	for name := range used { // deltas of other branches
		if local, fault := labLocalPath(vm, name); fault == nil && path.Ext(name) == ".vmdk" {
			_ = vdisk.Remove(local)
		}
	}
	for _, ref := range labSnapshotsOf(vm) {
		delete(labSnapshotDisks, ref)
		delete(labSnapshotSeq, ref)
	}
	labSetBackings(vm, next)
	return nil
}
