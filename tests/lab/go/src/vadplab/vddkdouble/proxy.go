package main

import (
	"context"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// hotAddRefusal says why HotAdd cannot open the disk name of the connection's VM, or nil. HotAdd
// attaches the disk to the VM this machine is (the backup proxy), which VDDK finds in vCenter by
// the BIOS UUID of this machine's SMBIOS; that VM must be another than the one whose disks are
// opened, in the same datacenter, on a host that sees the disk's datastore. A running VM's disks
// are attached through a snapshot, a powered-off VM's (a restore) directly.
func (c *connection) hotAddRefusal(info *vmInfo, name string) error {
	if c.snapshotRef == "" && info.powerState != types.VirtualMachinePowerStatePoweredOff {
		return fail(vixNotSupported, "hotadd needs a snapshotRef for a VM that is not powered off")
	}
	smbios, err := labPost(c.params, "/lab/this-machine", nil) // the lab stands for this machine's SMBIOS
	if err != nil {
		return err
	}
	uuid, _ := smbios["bios_uuid"].(string)
	if uuid == "" {
		return fail(vixNotSupported, "hotadd: this machine is not a virtual machine (no VMware BIOS UUID in its "+
			"SMBIOS); HotAdd works only from a backup proxy VM")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	found, err := object.NewSearchIndex(c.client).FindByUuid(ctx, nil, uuid, true, nil)
	if err != nil || found == nil {
		return fail(vixNotSupported, "hotadd: no VM of this vCenter has this machine's BIOS UUID %s", uuid)
	}
	proxy := found.Reference()
	if proxy == c.vm {
		return fail(vixNotSupported, "hotadd: the proxy VM %s cannot hot-add its own disks", proxy.Value)
	}
	collector := property.DefaultCollector(c.client)
	proxyDatacenter, err := datacenterOf(ctx, collector, proxy)
	if err != nil {
		return err
	}
	vmDatacenter, err := datacenterOf(ctx, collector, c.vm)
	if err != nil {
		return err
	}
	if proxyDatacenter != vmDatacenter {
		return fail(vixNotSupported, "hotadd: the proxy VM %s is in datacenter %s, the disks in %s", proxy.Value,
			proxyDatacenter.Value, vmDatacenter.Value)
	}
	var vm mo.VirtualMachine
	if err := collector.RetrieveOne(ctx, proxy, []string{"runtime.host"}, &vm); err != nil || vm.Runtime.Host == nil {
		return fail(vixNotSupported, "hotadd: the proxy VM %s has no host: %v", proxy.Value, err)
	}
	var host mo.HostSystem
	if err := collector.RetrieveOne(ctx, *vm.Runtime.Host, []string{"name", "datastore"}, &host); err != nil {
		return fail(vixHostNotConnected, "host %s: %v", vm.Runtime.Host.Value, err)
	}
	var stores []mo.Datastore
	if len(host.Datastore) > 0 {
		if err := collector.Retrieve(ctx, host.Datastore, []string{"name"}, &stores); err != nil {
			return fail(vixHostNotConnected, "host %s: %v", host.Name, err)
		}
	}
	wanted := strings.TrimPrefix(strings.SplitN(name, "]", 2)[0], "[")
	for _, ds := range stores {
		if ds.Name == wanted {
			return nil
		}
	}
	return fail(vixNotSupported, "hotadd: the proxy VM's host %s does not see datastore %s", host.Name, wanted)
}

// datacenterOf walks up the inventory from ref to its datacenter.
func datacenterOf(ctx context.Context, collector *property.Collector, ref types.ManagedObjectReference) (
	types.ManagedObjectReference, error) {
	for ref.Type != "Datacenter" {
		var entity mo.ManagedEntity
		if err := collector.RetrieveOne(ctx, ref, []string{"parent"}, &entity); err != nil || entity.Parent == nil {
			return ref, fail(vixObjectNotFound, "%s %s: no datacenter above it: %v", ref.Type, ref.Value, err)
		}
		ref = *entity.Parent
	}
	return ref, nil
}
