// Lab extension: changed block tracking and QueryChangedDiskAreas (missing from govmomi 0.24).
//
// As on vSphere, turning changeTrackingEnabled on or off through ReconfigVM takes effect at the
// VM's next stun (a snapshot is taken, removed or reverted). A disk's changeId is
// "<epoch>/<sequence>": the epoch is new each time tracking starts, so changeIds from before a
// reset are refused; the sequence advances at every snapshot.

package simulator

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"vadplab/vdisk"
)

// LabCBTBlockSize is the granularity of reported changes, as ESXi's (64 KiB on small disks).
const LabCBTBlockSize = 64 * 1024

// LabCBTPageExtents caps the extents one QueryChangedDiskAreas answer holds (0: no cap), so tests
// can force callers to page. Set through the lab's control endpoint.
var LabCBTPageExtents int

type labChange struct {
	seq        int
	start, end int64
}

type labTracking struct {
	epoch   string
	seq     int
	changes []labChange
}

var (
	labTrackingOf  = map[types.ManagedObjectReference]map[int32]*labTracking{}
	labSnapshotSeq = map[types.ManagedObjectReference]map[int32]int{}
)

func labNewEpoch() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	parts := make([]string, 16)
	for i, v := range b {
		parts[i] = fmt.Sprintf("%02x", v)
	}
	return strings.Join(parts[:8], " ") + "-" + strings.Join(parts[8:], " ")
}

// labSyncChangeTracking applies a pending change of changeTrackingEnabled (called at a stun).
func labSyncChangeTracking(vm *VirtualMachine) {
	wanted := vm.Config.ChangeTrackingEnabled != nil && *vm.Config.ChangeTrackingEnabled
	_, active := labTrackingOf[vm.Self]
	switch {
	case wanted && !active:
		tracking := map[int32]*labTracking{}
		for _, disk := range labDisks(vm) {
			t := &labTracking{epoch: labNewEpoch()}
			tracking[disk.Key] = t
			disk.Backing.(*flatBacking).ChangeId = t.changeID()
		}
		labTrackingOf[vm.Self] = tracking
	case !wanted && active:
		delete(labTrackingOf, vm.Self)
		for _, disk := range labDisks(vm) {
			disk.Backing.(*flatBacking).ChangeId = ""
		}
	}
}

func (t *labTracking) changeID() string { return fmt.Sprintf("%s/%d", t.epoch, t.seq) }

// labAdvanceChangeIDs runs when a snapshot is taken: the snapshot's disks get the changeId of
// this moment (the one a backup saves), and the new leaves carry it on.
func labAdvanceChangeIDs(vm *VirtualMachine, snapshot types.ManagedObjectReference, frozen map[int32]*flatBacking) {
	tracking := labTrackingOf[vm.Self]
	seqs := map[int32]int{}
	for _, disk := range labDisks(vm) {
		t, ok := tracking[disk.Key]
		if !ok {
			continue
		}
		t.seq++
		seqs[disk.Key] = t.seq
		disk.Backing.(*flatBacking).ChangeId = t.changeID()
		if b, ok := frozen[disk.Key]; ok {
			b.ChangeId = t.changeID()
		}
	}
	labSnapshotSeq[snapshot] = seqs
}

// labRecordWrite notes a write for change tracking.
func labRecordWrite(vm *VirtualMachine, key int32, start, end int64) {
	if t, ok := labTrackingOf[vm.Self][key]; ok {
		t.changes = append(t.changes, labChange{seq: t.seq, start: start, end: end})
	}
}

func labDiskByKey(vm *VirtualMachine, key int32) *types.VirtualDisk {
	for _, disk := range labDisks(vm) {
		if disk.Key == key {
			return disk
		}
	}
	return nil
}

// QueryChangedDiskAreas answers as vSphere does: the areas of a disk changed since changeId (or
// every allocated area for "*") as of the snapshot, aligned to the tracking block size, one slice
// at a time from startOffset: callers continue at startOffset + length until the capacity.
func (vm *VirtualMachine) QueryChangedDiskAreas(req *types.QueryChangedDiskAreas) soap.HasFault {
	labMu.Lock()
	defer labMu.Unlock()
	body := &methods.QueryChangedDiskAreasBody{}
	info, fault := labChangedAreas(vm, req)
	if fault != nil {
		body.Fault_ = Fault(labFaultMessage(fault), fault)
		return body
	}
	body.Res = &types.QueryChangedDiskAreasResponse{Returnval: *info}
	return body
}

func labFaultMessage(fault types.BaseMethodFault) string {
	switch f := fault.(type) {
	case *types.FileFault:
		return "Error caused by file " + f.File
	case *types.InvalidArgument:
		return "A specified parameter was not correct: " + f.InvalidProperty
	}
	return ""
}

func labChangedAreas(vm *VirtualMachine, req *types.QueryChangedDiskAreas) (*types.DiskChangeInfo, types.BaseMethodFault) {
	disk := labDiskByKey(vm, req.DeviceKey)
	if disk == nil {
		return nil, &types.InvalidArgument{InvalidProperty: "deviceKey"}
	}
	capacity := labCapacity(disk)
	if req.StartOffset < 0 || req.StartOffset >= capacity {
		return nil, &types.InvalidArgument{InvalidProperty: "startOffset"}
	}
	leaf := disk.Backing.(*flatBacking)
	upTo := -1 // changes recorded before this sequence number count; -1: all so far
	if req.Snapshot != nil {
		seqs, known := labSnapshotSeq[*req.Snapshot]
		frozen, ok := labSnapshotDisks[*req.Snapshot][req.DeviceKey]
		if !known || !ok {
			return nil, &types.InvalidArgument{InvalidProperty: "snapshot"}
		}
		leaf = frozen
		if s, ok := seqs[req.DeviceKey]; ok {
			upTo = s
		}
	}
	var areas [][2]int64
	if req.ChangeId == "*" {
		local, fault := labLocalPath(vm, leaf.FileName)
		if fault != nil {
			return nil, fault
		}
		chain, err := vdisk.Open(local, true, false)
		if err != nil {
			return nil, labFault(err)
		}
		areas = chain.Allocated()
		chain.Close()
	} else {
		t, ok := labTrackingOf[vm.Self][req.DeviceKey]
		if !ok {
			return nil, &types.FileFault{File: leaf.FileName + " (change tracking is not active on this disk)"}
		}
		epoch, seqText, found := strings.Cut(req.ChangeId, "/")
		since, err := strconv.Atoi(seqText)
		if !found || err != nil || epoch != t.epoch || since > t.seq {
			return nil, &types.FileFault{File: leaf.FileName + " (changeId " + req.ChangeId + " is not valid for this disk)"}
		}
		for _, c := range t.changes {
			if c.seq >= since && (upTo < 0 || c.seq < upTo) {
				areas = append(areas, [2]int64{c.start, c.end})
			}
		}
	}
	return labPage(labAlign(areas, capacity), req.StartOffset, capacity), nil
}

func labAlign(areas [][2]int64, capacity int64) [][2]int64 {
	aligned := make([][2]int64, 0, len(areas))
	for _, a := range areas {
		start := a[0] / LabCBTBlockSize * LabCBTBlockSize
		end := (a[1] + LabCBTBlockSize - 1) / LabCBTBlockSize * LabCBTBlockSize
		if end > capacity {
			end = capacity
		}
		aligned = append(aligned, [2]int64{start, end})
	}
	sortRanges(aligned)
	var merged [][2]int64
	for _, a := range aligned {
		if n := len(merged); n > 0 && a[0] <= merged[n-1][1] {
			if a[1] > merged[n-1][1] {
				merged[n-1][1] = a[1]
			}
			continue
		}
		merged = append(merged, a)
	}
	return merged
}

func sortRanges(r [][2]int64) {
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j][0] < r[j-1][0]; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

func labPage(areas [][2]int64, startOffset, capacity int64) *types.DiskChangeInfo {
	info := &types.DiskChangeInfo{StartOffset: startOffset, Length: capacity - startOffset}
	for _, a := range areas {
		if a[1] <= startOffset {
			continue
		}
		if a[0] < startOffset {
			a[0] = startOffset
		}
		if LabCBTPageExtents > 0 && len(info.ChangedArea) == LabCBTPageExtents {
			info.Length = a[0] - startOffset // the next answer starts at the first area left out
			break
		}
		info.ChangedArea = append(info.ChangedArea, types.DiskChangeExtent{Start: a[0], Length: a[1] - a[0]})
	}
	return info
}
