// Lab extension: NFS datastores reached over NFS. HostDatastoreSystem.CreateNasDatastore mounts
// the export with a real NFS client (libnfs, NFSv4, vadplab/nfsds) on the port ESXi uses, and the
// disk model reads and writes every descriptor and extent on the datastore through that mount, so
// a lab VM boots from bytes that crossed NFS. Only loopback servers are reached (the lab's network
// rule). The lab keeps the datastore's other files (the .vmx the simulator writes) in a folder of
// its own, named by the datastore's url: vcsim's file code is not NFS-aware.
//
// A failed NFS call marks the datastore inaccessible (summary.accessible and each host mount), as
// vCenter does when a host loses its NFS server. HostDatastoreSystem.RemoveDatastore unmounts.
package simulator

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"vadplab/nfsds"
	"vadplab/vdisk"
)

// labNfsPort is the port the lab's hosts mount NFS on: ESXi's, which cannot be chosen.
const labNfsPort = 2049

// labNas holds each NFS datastore's mount.
var labNas = map[types.ManagedObjectReference]*labNasMount{}

type labNasMount struct {
	ds    *Datastore
	mount *nfsds.Mount
	local string
}

func labHostConfigFault(message string) *soap.Fault {
	return Fault(message, &types.HostConfigFault{})
}

// labOnCreateNasDatastore mounts NFS and NFS41 datastores; other types go to the stock code.
func labOnCreateNasDatastore(ctx *Context, dss *HostDatastoreSystem, c *types.CreateNasDatastore) soap.HasFault {
	spec := c.Spec
	if spec.Type != string(types.HostFileSystemVolumeFileSystemTypeNFS) && spec.Type != string(types.HostFileSystemVolumeFileSystemTypeNFS41) {
		return nil
	}
	r := &methods.CreateNasDatastoreBody{}
	ip := net.ParseIP(spec.RemoteHost)
	if ip == nil || !ip.IsLoopback() {
		r.Fault_ = labHostConfigFault(fmt.Sprintf("An error occurred during host configuration: NFS mount %s:%s failed: "+
			"the lab's hosts reach loopback addresses only", spec.RemoteHost, spec.RemotePath))
		return r
	}
	mount, err := nfsds.Dial(spec.RemoteHost, labNfsPort, spec.RemotePath)
	if err != nil {
		r.Fault_ = labHostConfigFault(fmt.Sprintf("An error occurred during host configuration: NFS mount %s:%s failed: %v",
			spec.RemoteHost, spec.RemotePath, err))
		return r
	}
	local := filepath.Join(os.TempDir(), "nas", spec.LocalPath)
	if err := os.MkdirAll(local, 0o700); err != nil {
		mount.Close()
		r.Fault_ = labHostConfigFault(err.Error())
		return r
	}
	ds := &Datastore{}
	ds.Name = spec.LocalPath
	ds.Self.Value = spec.RemoteHost + ":" + spec.RemotePath
	ds.Info = &types.NasDatastoreInfo{
		DatastoreInfo: types.DatastoreInfo{Url: local},
		Nas: &types.HostNasVolume{
			HostFileSystemVolume: types.HostFileSystemVolume{Name: spec.LocalPath, Type: spec.Type},
			RemoteHost:           spec.RemoteHost,
			RemotePath:           spec.RemotePath,
		},
	}
	ds.Summary.Type = spec.Type
	ds.Summary.MaintenanceMode = string(types.DatastoreSummaryMaintenanceModeStateNormal)
	ds.Summary.Accessible = true
	if fault := dss.add(ctx, ds); fault != nil {
		mount.Close()
		_ = os.RemoveAll(local)
		r.Fault_ = fault
		return r
	}
	ds.Host = append(ds.Host, types.DatastoreHostMount{Key: dss.Host.Reference(), MountInfo: types.HostMountInfo{
		Path: "/vmfs/volumes/" + spec.LocalPath, AccessMode: spec.AccessMode, Mounted: types.NewBool(true),
		Accessible: types.NewBool(true)}})
	_ = ds.RefreshDatastore(&types.RefreshDatastore{This: ds.Self})
	labMu.Lock()
	labNas[ds.Self] = &labNasMount{ds: ds, mount: mount, local: local}
	labMu.Unlock()
	vdisk.Mount(local, &labNasRemote{ds: ds, mount: mount})
	r.Res = &types.CreateNasDatastoreResponse{Returnval: ds.Self}
	return r
}

// RemoveDatastore unmounts a datastore from the host (NFS ones only in the lab); a datastore
// that VMs still use is refused, as on ESXi.
func (dss *HostDatastoreSystem) RemoveDatastore(ctx *Context, req *types.RemoveDatastore) soap.HasFault {
	r := &methods.RemoveDatastoreBody{}
	labMu.Lock()
	nas := labNas[req.Datastore]
	labMu.Unlock()
	if nas == nil {
		r.Fault_ = Fault("the lab unmounts NFS datastores only", &types.NotSupported{})
		return r
	}
	ds := nas.ds
	if len(ds.Vm) != 0 {
		r.Fault_ = Fault("", &types.ResourceInUse{Type: ds.Self.Type, Name: ds.Name})
		return r
	}
	for _, mount := range ds.Host {
		host := Map.Get(mount.Key).(*HostSystem)
		Map.RemoveReference(host, &host.Datastore, ds.Self)
		parent := hostParent(&host.HostSystem)
		Map.RemoveReference(parent, &parent.Datastore, ds.Self)
	}
	RemoveReference(&dss.Datastore, ds.Self)
	p, _ := asFolderMO(Map.Get(*ds.Parent))
	folderRemoveChild(ctx, p, ds.Self)
	vdisk.Unmount(nas.local)
	nas.mount.Close()
	_ = os.RemoveAll(nas.local)
	labMu.Lock()
	delete(labNas, req.Datastore)
	labMu.Unlock()
	r.Res = &types.RemoveDatastoreResponse{}
	return r
}

// labNasRemote is the disk model's view of an NFS datastore: the mount's files, and a failed
// call marks the datastore inaccessible.
type labNasRemote struct {
	ds    *Datastore
	mount *nfsds.Mount
}

func (n *labNasRemote) checked(err error) error {
	if err != nil && !n.mount.Alive() {
		Map.WithLock(n.ds, func() { labSetAccessible(n.ds, false) })
	}
	return err
}

// labSetAccessible is what a host reports of an NFS datastore whose server answers, or not.
func labSetAccessible(ds *Datastore, accessible bool) {
	ds.Summary.Accessible = accessible
	for i := range ds.Host {
		ds.Host[i].MountInfo.Accessible = types.NewBool(accessible)
		ds.Host[i].MountInfo.InaccessibleReason = map[bool]string{false: "AllPathsDown_Start", true: ""}[accessible]
	}
}

func (n *labNasRemote) Open(path string, readOnly bool) (vdisk.File, error) {
	f, err := n.mount.Open(path, readOnly)
	if err != nil {
		return nil, n.checked(err)
	}
	return &labNasFile{File: f, remote: n}, nil
}

func (n *labNasRemote) ReadFile(path string) ([]byte, error) {
	data, err := n.mount.ReadFile(path)
	return data, n.checked(err)
}

func (n *labNasRemote) WriteFile(path string, data []byte) error {
	return n.checked(n.mount.WriteFile(path, data))
}

type labNasFile struct {
	vdisk.File
	remote *labNasRemote
}

func (f *labNasFile) ReadAt(buf []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		err = f.remote.checked(err)
	}
	return n, err
}

func (f *labNasFile) WriteAt(buf []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(buf, off)
	return n, f.remote.checked(err)
}

// labCreateVirtualDisk stands in for the simulator's check that an attached disk's files exist,
// which looks on this machine: on an NFS datastore the descriptor is read over NFS. The lab makes
// no new disks on NFS datastores.
func labCreateVirtualDisk(op types.VirtualDeviceConfigSpecFileOperation, req *types.CreateVirtualDisk_Task) types.BaseMethodFault {
	local, fault := Map.FileManager().resolve(req.Datacenter, req.Name)
	if fault != nil || !vdisk.IsRemote(local) {
		return vdmCreateVirtualDisk(op, req)
	}
	if op != "" {
		return &types.NotSupported{}
	}
	if _, err := vdisk.ReadDescriptor(local); err != nil {
		return &types.FileNotFound{FileFault: types.FileFault{File: req.Name}}
	}
	return nil
}
