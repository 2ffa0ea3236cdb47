// Lab extension: what VDDK's PrepareForAccess and EndAccess do on vCenter. While a backup or a
// restore owns a VM's disks, vCenter disables the VM's RelocateVM_Task (no Storage vMotion
// under the transfer) and lists it in the VM's disabledMethod; EndAccess enables it again. vCenter
// does this through an internal API that neither govmomi nor pyVmomi knows, so the VDDK double
// reaches the lab through its control endpoint instead.
package simulator

import "github.com/vmware/govmomi/vim25/types"

const labRelocateMethod = "RelocateVM_Task"

// LabSetAccess disables (prepare) or enables RelocateVM_Task on a VM, by name or moref.
func LabSetAccess(vmID string, prepare bool) (map[string]interface{}, error) {
	vm, err := LabFindVM(vmID)
	if err != nil {
		return nil, err
	}
	var methods []string
	Map.WithLock(vm, func() {
		for _, m := range vm.DisabledMethod {
			if m != labRelocateMethod {
				methods = append(methods, m)
			}
		}
		if prepare {
			methods = append(methods, labRelocateMethod)
		}
		Map.Update(vm, []types.PropertyChange{{Name: "disabledMethod", Val: methods}})
	})
	return map[string]interface{}{"vm": vm.Name, "disabled_methods": methods}, nil
}

// LabSessionValid says whether a session cookie belongs to a live session. vCenter's /folder
// file access (NVRAM, logs) needs one; the stock simulator served the datastores to anyone.
func LabSessionValid(key string) bool {
	_, ok := Map.SessionManager().getSession(key)
	return ok
}
