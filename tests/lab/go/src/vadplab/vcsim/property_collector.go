package main

import (
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// propertyCollector fixes Fetch of a property that is unset (vm.snapshot of a VM without
// snapshots, a disk's changeId with CBT off): vCenter answers with no value, govmomi 0.24's
// simulator panics and drops the connection. pyVmomi reads every property through Fetch.
// Embedded by value: the simulator clones the collector per session with reflect.New.
type propertyCollector struct {
	simulator.PropertyCollector
}

type fetchResponse struct {
	Returnval types.AnyType `xml:"returnval,omitempty,typeattr"`
}

type fetchBody struct {
	Res    *fetchResponse `xml:"FetchResponse,omitempty"`
	Fault_ *soap.Fault    `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *fetchBody) Fault() *soap.Fault { return b.Fault_ }

// Fetch takes the request as interface{} because its type lives in the simulator's internal
// package; the dispatcher calls this method by reflection, which converts it.
func (pc *propertyCollector) Fetch(ctx *simulator.Context, req interface{}) soap.HasFault {
	fields := reflect.ValueOf(req).Elem()
	this := fields.FieldByName("This").Interface().(types.ManagedObjectReference)
	prop := fields.FieldByName("Prop").String()

	if ctx.Map.Get(this) != nil && propertyIsUnset(ctx, pc, this, prop) {
		return &fetchBody{Res: &fetchResponse{}}
	}
	original := reflect.ValueOf(&pc.PropertyCollector).MethodByName("Fetch")
	out := original.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(req)})
	return out[0].Interface().(soap.HasFault)
}

func propertyIsUnset(ctx *simulator.Context, pc *propertyCollector, this types.ManagedObjectReference, prop string) bool {
	res, ok := pc.RetrievePropertiesEx(ctx, &types.RetrievePropertiesEx{
		SpecSet: []types.PropertyFilterSpec{{
			PropSet:   []types.PropertySpec{{Type: this.Type, PathSet: []string{prop}}},
			ObjectSet: []types.ObjectSpec{{Obj: this}},
		}}}).(*methods.RetrievePropertiesExBody)
	if !ok || res.Fault_ != nil || res.Res == nil || res.Res.Returnval == nil {
		return false
	}
	objects := res.Res.Returnval.Objects
	return len(objects) == 1 && len(objects[0].PropSet) == 0 && len(objects[0].MissingSet) == 0
}
