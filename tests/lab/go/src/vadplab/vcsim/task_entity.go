package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// taskEntity makes a task's entity what vCenter reports, so errors name the right object:
// snapshot tasks (revert, remove) name the VM (the stock simulator names the snapshot, which is
// not a ManagedEntity, so pyVmomi cannot even read such a task's info), and entityName is the
// entity's name, not its moid.
type taskEntity struct {
	mo.ManagedEntity
}

func (h *taskEntity) PutObject(item mo.Reference) {
	task, ok := item.(*simulator.Task)
	if !ok || task.Info.Entity == nil {
		return
	}
	if snapshot, ok := simulator.Map.Get(*task.Info.Entity).(*simulator.VirtualMachineSnapshot); ok {
		vm := snapshot.Vm
		task.Info.Entity = &vm
	}
	if entity, ok := simulator.Map.Get(*task.Info.Entity).(mo.Entity); ok {
		task.Info.EntityName = entity.Entity().Name
	}
}

func (h *taskEntity) UpdateObject(mo.Reference, []types.PropertyChange) {}
func (h *taskEntity) RemoveObject(types.ManagedObjectReference)         {}
