// Lab extension: RelocateVM_Task with a datastore moves the VM's disks as Storage vMotion does, while
// the VM runs: a first pass copies each disk as the guest goes on writing (what it writes is recorded
// by a mirror), then, with the guest held, what it wrote meanwhile is copied again and the VM
// switches to the copies. A failure at any point leaves the VM on its own disks and removes the
// copies. A task rule's hold_file holds the move between the two passes, so that a test can write as
// the guest while the copy is under way.

package simulator

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/types"

	"vadplab/vdisk"
)

// labMirrors records, per VM being moved and disk key, the ranges the guest wrote since the move
// began (under labMu).
var labMirrors = map[types.ManagedObjectReference]map[int32][][2]int64{}

type labDiskMove struct {
	key                        int32
	backing                    *flatBacking
	sourceLocal, target, local string
}

// labRelocateStorage starts the move of vm's disks to spec.Datastore and reports whether it did;
// the task completes when the move ends. Moves the lab cannot make are refused as vCenter would.
func labRelocateStorage(t *Task, vm *VirtualMachine, spec types.VirtualMachineRelocateSpec) (bool, types.BaseMethodFault) {
	if spec.Datastore == nil {
		return false, nil
	}
	target, ok := Map.Get(*spec.Datastore).(*Datastore)
	if !ok {
		return false, &types.InvalidArgument{InvalidProperty: "spec.datastore"}
	}
	labMu.Lock()
	defer labMu.Unlock()
	moves, folder, fault := labPlanMove(vm, target)
	if fault != nil || len(moves) == 0 {
		return false, fault
	}
	if spec.Host != nil || spec.Pool != nil || len(spec.Disk) > 0 {
		return false, &types.NotSupported{} // the lab moves a VM's whole storage, and nothing else at once
	}
	labMirrors[vm.Self] = map[int32][][2]int64{}
	labTaskMu.Lock()
	labDelayed[t] = labCompletesItself
	hold := labHoldFiles[t]
	delete(labHoldFiles, t)
	labTaskMu.Unlock()
	go labMove(t, vm, target, folder, moves, hold)
	return true, nil
}

// labPlanMove names each disk's copy on target: the VM's folder there, or <folder>_N when files of
// that name exist already (as vCenter picks a free folder).
func labPlanMove(vm *VirtualMachine, target *Datastore) ([]labDiskMove, string, types.BaseMethodFault) {
	disks := labDisks(vm)
	if len(disks) == 0 || labDatastoreName(disks[0].Backing.(*flatBacking).FileName) == target.Name {
		return nil, "", nil
	}
	if !target.Summary.Accessible {
		return nil, "", &types.InvalidDatastore{Name: target.Name}
	}
	root, fault := labLocalPath(vm, fmt.Sprintf("[%s]", target.Name))
	if fault != nil || vdisk.IsRemote(root+"/x") {
		return nil, "", &types.NotSupported{} // the lab copies to local datastores
	}
	stem := path.Dir(strings.TrimSpace(strings.SplitN(disks[0].Backing.(*flatBacking).FileName, "]", 2)[1]))
	for n := 0; ; n++ {
		folder := stem
		if n > 0 {
			folder = fmt.Sprintf("%s_%d", stem, n)
		}
		var moves []labDiskMove
		taken := false
		for _, disk := range disks {
			b := disk.Backing.(*flatBacking)
			if b.Parent != nil {
				return nil, "", &types.NotSupported{} // the lab moves disks without snapshots
			}
			source, fault := labLocalPath(vm, b.FileName)
			if fault != nil {
				return nil, "", fault
			}
			name := fmt.Sprintf("[%s] %s/%s", target.Name, folder, path.Base(b.FileName))
			local := filepath.Join(root, folder, path.Base(b.FileName))
			taken = taken || fileExists(local) || fileExists(strings.TrimSuffix(local, ".vmdk")+"-flat.vmdk")
			moves = append(moves, labDiskMove{key: disk.Key, backing: b, sourceLocal: source, target: name, local: local})
		}
		if !taken {
			return moves, folder, nil
		}
	}
}

func labDatastoreName(fileName string) string {
	return strings.TrimPrefix(strings.SplitN(fileName, "]", 2)[0], "[")
}

// labMirrorWrite records a guest write to a disk being moved (call with labMu held).
func labMirrorWrite(vm *VirtualMachine, key int32, start, end int64) {
	if dirty, ok := labMirrors[vm.Self]; ok {
		dirty[key] = append(dirty[key], [2]int64{start, end})
	}
}

func labMove(t *Task, vm *VirtualMachine, target *Datastore, folder string, moves []labDiskMove, hold string) {
	fault := labFirstPass(t, moves)
	if fault == nil && hold != "" {
		labWaitForRelease(hold)
	}
	Map.WithLock(vm, func() {
		labMu.Lock()
		defer labMu.Unlock()
		dirty := labMirrors[vm.Self]
		delete(labMirrors, vm.Self)
		for i := 0; fault == nil && i < len(moves); i++ {
			fault = labCopy(moves[i], dirty[moves[i].key], false)
		}
		if fault != nil {
			for _, m := range moves {
				_ = vdisk.Remove(m.local)
			}
			return
		}
		labSwitch(vm, target, folder, moves)
	})
	labComplete(t, nil, fault)
}

// labFirstPass copies every disk whole (all-zero blocks stay holes), reporting progress.
func labFirstPass(t *Task, moves []labDiskMove) types.BaseMethodFault {
	for i, m := range moves {
		source, err := vdisk.ReadDescriptor(m.sourceLocal)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(m.local), 0o755)
		}
		if err == nil {
			err = vdisk.CreateLike(m.local, source)
		}
		if err != nil {
			return labFault(err)
		}
		if fault := labCopy(m, [][2]int64{{0, source.Capacity()}}, true); fault != nil {
			return fault
		}
		Map.Update(t, []types.PropertyChange{{Name: "info.progress", Val: int32(90 * (i + 1) / len(moves))}})
	}
	return nil
}

// labCopy copies ranges of a disk from its source to its copy; with holes, all-zero blocks are left
// unwritten (the copy starts empty; a re-copied range may be zeros the guest wrote).
func labCopy(m labDiskMove, ranges [][2]int64, holes bool) types.BaseMethodFault {
	source, err := vdisk.Open(m.sourceLocal, true, false)
	if err != nil {
		return labFault(err)
	}
	defer source.Close()
	copied, err := vdisk.Open(m.local, false, false)
	if err != nil {
		return labFault(err)
	}
	defer copied.Close()
	buf, zero := make([]byte, 1<<20), make([]byte, 1<<20)
	for _, r := range ranges {
		for off := r[0]; off < r[1]; off += int64(len(buf)) {
			n := r[1] - off
			if n > int64(len(buf)) {
				n = int64(len(buf))
			}
			if err := source.ReadAt(buf[:n], off); err != nil {
				return labFault(err)
			}
			if holes && bytes.Equal(buf[:n], zero[:n]) {
				continue
			}
			if err := copied.WriteAt(buf[:n], off); err != nil {
				return labFault(err)
			}
		}
	}
	return nil
}

// labSwitch points the VM at the copies and its files at target; the originals go, unless they are
// on an NFS datastore (the lab does not delete over NFS: a served point's files stay its server's).
func labSwitch(vm *VirtualMachine, target *Datastore, folder string, moves []labDiskMove) {
	backings := map[int32]*flatBacking{}
	for _, m := range moves {
		b := *m.backing
		b.FileName, b.Datastore = m.target, &target.Self
		backings[m.key] = &b
		if !vdisk.IsRemote(m.sourceLocal) {
			_ = vdisk.Remove(m.sourceLocal)
		}
	}
	directory := fmt.Sprintf("[%s] %s/", target.Name, folder)
	var files []types.VirtualMachineFileLayoutExFileInfo
	for _, f := range vm.LayoutEx.File {
		if !strings.HasSuffix(f.Name, ".vmdk") { // the disks are listed again from their new backings
			f.Name = directory + path.Base(f.Name)
			files = append(files, f)
		}
	}
	vm.LayoutEx.File = files
	labSetBackings(vm, backings)
	vmx := directory + path.Base(vm.Config.Files.VmPathName)
	if old, fault := labLocalPath(vm, vm.Config.Files.VmPathName); fault == nil {
		if data, err := os.ReadFile(old); err == nil {
			if local, fault := labLocalPath(vm, vmx); fault == nil && os.WriteFile(local, data, 0o644) == nil {
				_ = os.Remove(old)
			}
		}
	}
	for _, ref := range vm.Datastore {
		if ds, ok := Map.Get(ref).(*Datastore); ok && ref != target.Self {
			Map.RemoveReference(ds, &ds.Vm, vm.Self)
		}
	}
	Map.AddReference(target, &target.Vm, vm.Self)
	Map.Update(vm, []types.PropertyChange{
		{Name: "datastore", Val: []types.ManagedObjectReference{target.Self}},
		{Name: "config.files.vmPathName", Val: vmx},
		{Name: "config.files.snapshotDirectory", Val: directory},
		{Name: "config.files.suspendDirectory", Val: directory},
		{Name: "config.files.logDirectory", Val: directory},
		{Name: "summary.config.vmPathName", Val: vmx},
	})
}

// labWaitForRelease holds a task until a test creates the file hold (hold.held says it is held).
func labWaitForRelease(hold string) {
	_ = os.WriteFile(hold+".held", nil, 0o644)
	for !fileExists(hold) {
		time.Sleep(50 * time.Millisecond)
	}
}
