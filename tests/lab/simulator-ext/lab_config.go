// Lab extension: parts of a VirtualMachineConfigSpec that vSphere keeps in the VM's config and
// the stock simulator ignores.
package simulator

import "github.com/vmware/govmomi/vim25/types"

// labApplyCpuFeatureMask applies cpuFeatureMask's ArrayUpdateSpec entries: add appends, edit
// replaces the entry of the same level and vendor, remove drops it.
func labApplyCpuFeatureMask(vm *VirtualMachine, spec *types.VirtualMachineConfigSpec) {
	for _, update := range spec.CpuFeatureMask {
		if update.Info == nil {
			continue
		}
		var kept []types.HostCpuIdInfo
		for _, existing := range vm.Config.CpuFeatureMask {
			if existing.Level != update.Info.Level || existing.Vendor != update.Info.Vendor {
				kept = append(kept, existing)
			}
		}
		if update.Operation != types.ArrayUpdateOperationRemove {
			kept = append(kept, *update.Info)
		}
		vm.Config.CpuFeatureMask = kept
	}
}

// What vCenter refuses in a new VM's configuration (vSphere 8 configuration maximums); the stock
// simulator created such VMs.
const (
	labNameMax      = 80 // characters, as stored (escaped)
	labMaxCpus      = 768
	labMaxMemoryMB  = 24 << 20
	labMemoryStepMB = 4
)

// labCheckNewConfig refuses, before anything is created, a name over 80 characters, a CPU count
// or core grouping no VM can have, memory out of range or not in steps of 4 MB, and two devices
// added with one key.
func labCheckNewConfig(spec *types.VirtualMachineConfigSpec) types.BaseMethodFault {
	if len(spec.Name) > labNameMax {
		return &types.InvalidName{Name: spec.Name}
	}
	if spec.NumCPUs < 0 || spec.NumCPUs > labMaxCpus {
		return &types.NumVirtualCpusNotSupported{MaxSupportedVcpusDest: labMaxCpus, NumCpuVm: spec.NumCPUs}
	}
	if spec.NumCoresPerSocket > 0 && spec.NumCPUs > 0 && spec.NumCPUs%spec.NumCoresPerSocket != 0 {
		return &types.InvalidArgument{InvalidProperty: "numCoresPerSocket"}
	}
	if spec.MemoryMB != 0 && (spec.MemoryMB < labMemoryStepMB || spec.MemoryMB > labMaxMemoryMB || spec.MemoryMB%labMemoryStepMB != 0) {
		return &types.InvalidArgument{InvalidProperty: "memoryMB"}
	}
	keys := map[int32]bool{}
	for i, change := range spec.DeviceChange {
		device := change.GetVirtualDeviceConfigSpec().Device
		if device == nil || change.GetVirtualDeviceConfigSpec().Operation != types.VirtualDeviceConfigSpecOperationAdd {
			continue
		}
		key := device.GetVirtualDevice().Key
		if key != 0 && keys[key] {
			return &types.InvalidDeviceSpec{InvalidVmConfig: types.InvalidVmConfig{Property: "virtualDeviceSpec.device.key"}, DeviceIndex: int32(i)}
		}
		keys[key] = true
	}
	return nil
}
