// Lab extension: the entry points that hooks.patch adds to govmomi's simulator. Each takes the
// lab's lock (its maps are shared by every VM); the snapshot object's methods do not hold the
// VM's lock, so those entry points take it too.

package simulator

import (
	"sync"

	"github.com/vmware/govmomi/vim25/types"
)

var labMu sync.Mutex

func labOnDiskAttached(vm *VirtualMachine, disk *types.VirtualDisk, op types.VirtualDeviceConfigSpecFileOperation) types.BaseMethodFault {
	labMu.Lock()
	defer labMu.Unlock()
	return labDiskAttached(vm, disk, op)
}

// labOnSnapshotCreated runs under the VM's lock (CreateSnapshot is the VM's method).
func labOnSnapshotCreated(vm *VirtualMachine, snapshot types.ManagedObjectReference) types.BaseMethodFault {
	labMu.Lock()
	defer labMu.Unlock()
	return labSnapshotCreated(vm, snapshot)
}

// labOnRevertToCurrent runs under the VM's lock (RevertToCurrentSnapshot is the VM's method).
func labOnRevertToCurrent(vm *VirtualMachine) types.BaseMethodFault {
	labMu.Lock()
	defer labMu.Unlock()
	return labRevertToSnapshot(vm, *vm.Snapshot.CurrentSnapshot)
}

// labOnRemoveAll runs under the VM's lock (RemoveAllSnapshots is the VM's method).
func labOnRemoveAll(vm *VirtualMachine) types.BaseMethodFault {
	labMu.Lock()
	defer labMu.Unlock()
	return labRemoveAllSnapshots(vm)
}

func labOnRevert(vm *VirtualMachine, snapshot types.ManagedObjectReference) (fault types.BaseMethodFault) {
	Map.WithLock(vm, func() {
		labMu.Lock()
		defer labMu.Unlock()
		fault = labRevertToSnapshot(vm, snapshot)
	})
	return fault
}

// labOnRemove removes a snapshot (and, with removeChildren, its subtree, deepest first).
func labOnRemove(vm *VirtualMachine, snapshot types.ManagedObjectReference, removeChildren bool) (fault types.BaseMethodFault) {
	Map.WithLock(vm, func() {
		labMu.Lock()
		defer labMu.Unlock()
		if removeChildren && vm.Snapshot != nil {
			if node := findSnapshotInTree(vm.Snapshot.RootSnapshotList, snapshot); node != nil {
				children := allSnapshotsInTree(node.ChildSnapshotList)
				for i := len(children) - 1; i >= 0 && fault == nil; i-- {
					fault = labRemoveSnapshot(vm, children[i])
				}
			}
		}
		if fault == nil {
			fault = labRemoveSnapshot(vm, snapshot)
		}
	})
	return fault
}
