// Lab extension: the machine the collection runs on, as vCenter sees it. VDDK's HotAdd transport
// works only when that machine is a VM of the same vCenter (the backup proxy), found by the BIOS
// UUID the machine's SMBIOS reports, in the datacenter of the disks, on a host that sees their
// datastore. The lab starts with such a VM (LabProxyName) and says this machine is it; a test
// sets another VM, or none (a physical machine), through POST /lab/faults {"this_machine": NAME}
// ("" for none). The VDDK double reads the answer of GET /lab/this-machine where VDDK reads SMBIOS.
package simulator

import (
	"fmt"
	"sync"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// LabProxyName is the VM the lab's machine is at start: powered on, on the standalone host.
const LabProxyName = "vadp-proxy"

var labThisMachine struct {
	sync.Mutex
	biosUUID, vm string
}

// LabAddProxy makes the proxy VM (no disks of its own: HotAdd attaches the disks it reads) and
// makes it this machine.
func LabAddProxy() error {
	var host *HostSystem
	for _, e := range Map.All("HostSystem") {
		if h := e.(*HostSystem); h.Name == "DC0_H0" {
			host = h
		}
	}
	if host == nil {
		return fmt.Errorf("no host DC0_H0 for the proxy VM")
	}
	compute := Map.Get(*host.Parent).(*mo.ComputeResource)
	datacenter := Map.getEntityDatacenter(host)
	folder := Map.Get(datacenter.VmFolder).(*Folder)
	spec := types.VirtualMachineConfigSpec{Name: LabProxyName, GuestId: "debian12_64Guest", NumCPUs: 2, MemoryMB: 2048,
		Files: &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0] " + LabProxyName}}
	body := folder.CreateVMTask(internalContext, &types.CreateVM_Task{This: folder.Self, Config: spec,
		Pool: *compute.ResourcePool, Host: &host.Self}).(*methods.CreateVM_TaskBody)
	task := Map.Get(body.Res.Returnval).(*Task)
	if task.Info.Error != nil {
		return fmt.Errorf("creating the proxy VM: %s", task.Info.Error.LocalizedMessage)
	}
	vm := Map.Get(task.Info.Result.(types.ManagedObjectReference)).(*VirtualMachine)
	Map.Update(vm, []types.PropertyChange{{Name: "runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOn},
		{Name: "summary.runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOn}})
	return LabSetThisMachine(LabProxyName)
}

// LabSetThisMachine makes this machine the VM of that name, or ("") a machine that is no VM.
func LabSetThisMachine(name string) error {
	labThisMachine.Lock()
	defer labThisMachine.Unlock()
	if name == "" {
		labThisMachine.biosUUID, labThisMachine.vm = "", ""
		return nil
	}
	vm, err := LabFindVM(name)
	if err != nil {
		return err
	}
	labThisMachine.biosUUID, labThisMachine.vm = vm.Config.Uuid, name
	return nil
}

// LabThisMachine is what this machine's SMBIOS says (its BIOS UUID, "" when it is no VM), and
// the VM that is, for tests.
func LabThisMachine() map[string]string {
	labThisMachine.Lock()
	defer labThisMachine.Unlock()
	return map[string]string{"bios_uuid": labThisMachine.biosUUID, "vm": labThisMachine.vm}
}
