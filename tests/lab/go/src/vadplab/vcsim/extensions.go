package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// installExtensions replaces stock simulator objects with the lab's extended ones under the same
// managed object references, so clients see one vCenter.
func installExtensions() {
	content := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance).Content
	pc := &propertyCollector{}
	pc.Self = content.PropertyCollector
	simulator.Map.Put(pc)

	handler := &taskEntity{}
	handler.Self = types.ManagedObjectReference{Type: "LabHandler", Value: "task-entity"}
	simulator.Map.AddHandler(handler)
}
