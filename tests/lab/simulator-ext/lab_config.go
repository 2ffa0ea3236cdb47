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
