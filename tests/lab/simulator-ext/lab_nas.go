// Lab extension: NFS datastores reached over NFS. HostDatastoreSystem.CreateNasDatastore mounts
// the export with a real NFS client (libnfs, NFSv4, vadplab/nfsds) on the port ESXi uses, and the
// disk model reads and writes every descriptor and extent on the datastore through that mount, so
// a lab VM boots from bytes that crossed NFS. Only loopback servers are reached (the lab's network
// rule). The lab keeps the datastore's other files (the .vmx the simulator writes) in a folder of
// its own, named by the datastore's url: vcsim's file code is not NFS-aware.
//
// A failed NFS call marks the datastore inaccessible (summary.accessible and each host mount), as
// vCenter does when a host loses its NFS server, and the heartbeat of each VM on it turns red (its
// guest's I/O hangs). The host then keeps trying to mount again, as ESXi's NFS client reconnects,
// and a server that answers again makes the datastore accessible and the VMs green; a call that
// finds its mount lost mounts again at once and is retried once.
// HostDatastoreSystem.RemoveDatastore unmounts.
package simulator

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

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
	ds     *Datastore
	remote *labNasRemote
	local  string
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
	remote := &labNasRemote{ds: ds, mount: mount}
	labNas[ds.Self] = &labNasMount{ds: ds, remote: remote, local: local}
	labMu.Unlock()
	vdisk.Mount(local, remote)
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
	// The stock add makes the host's datastore list the very slice of dss.Datastore: removing from
	// both in place would shift one under the other and leave a stale entry. One list, then a copy.
	RemoveReference(&dss.Datastore, ds.Self)
	Map.WithLock(dss.Host, func() { dss.Host.Datastore = append([]types.ManagedObjectReference(nil), dss.Datastore...) })
	parent := hostParent(dss.Host)
	Map.RemoveReference(parent, &parent.Datastore, ds.Self)
	p, _ := asFolderMO(Map.Get(*ds.Parent))
	folderRemoveChild(ctx, p, ds.Self)
	vdisk.Unmount(nas.local)
	nas.remote.close()
	_ = os.RemoveAll(nas.local)
	labMu.Lock()
	delete(labNas, req.Datastore)
	labMu.Unlock()
	r.Res = &types.RemoveDatastoreResponse{}
	return r
}

// labNasRemote is the disk model's view of an NFS datastore: the mount's files. A failed call
// marks the datastore inaccessible and starts mounting again in the background.
type labNasRemote struct {
	ds      *Datastore
	mu      sync.Mutex
	mount   *nfsds.Mount // replaced by a new mount when the server answers again
	retries bool         // the background mount is running
	closed  bool
}

func (n *labNasRemote) current() *nfsds.Mount {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mount
}

func (n *labNasRemote) checked(err error) error {
	if err == nil || n.current().Alive() {
		return err
	}
	Map.WithLock(n.ds, func() { labSetAccessible(n.ds, false) })
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.retries && !n.closed {
		n.retries = true
		go n.remount()
	}
	return err
}

// remount tries to mount again until the server answers (a lost mount's context is never reused,
// see nfsds), or the datastore is removed.
func (n *labNasRemote) remount() {
	for {
		time.Sleep(200 * time.Millisecond)
		n.mu.Lock()
		if n.closed {
			n.retries = false
			n.mu.Unlock()
			return
		}
		old := n.mount
		n.mu.Unlock()
		mount, err := nfsds.Dial(old.Host, old.Port, old.Path)
		if err != nil {
			continue
		}
		n.mu.Lock()
		n.mount, n.retries = mount, false
		n.mu.Unlock()
		Map.WithLock(n.ds, func() { labSetAccessible(n.ds, true) })
		return
	}
}

func (n *labNasRemote) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	n.mount.Close()
}

// labSetAccessible is what a host reports of an NFS datastore whose server answers, or not.
func labSetAccessible(ds *Datastore, accessible bool) {
	ds.Summary.Accessible = accessible
	for i := range ds.Host {
		ds.Host[i].MountInfo.Accessible = types.NewBool(accessible)
		ds.Host[i].MountInfo.InaccessibleReason = map[bool]string{false: "AllPathsDown_Start", true: ""}[accessible]
	}
	for _, ref := range ds.Vm {
		if vm, ok := Map.Get(ref).(*VirtualMachine); ok {
			Map.Update(vm, []types.PropertyChange{{Name: "guestHeartbeatStatus", Val: labHeartbeat(vm)}})
		}
	}
}

// try runs op on the mount; when op finds the mount lost (the server went away, or restarted and
// forgot this client), it mounts again at once and runs op once more, as ESXi's client recovers its
// state with a restarted server. An error that remains marks the datastore inaccessible.
func (n *labNasRemote) try(op func(m *nfsds.Mount) error) error {
	m := n.current()
	err := op(m)
	if err != nil && !m.Alive() && n.revive(m) {
		err = op(n.current())
	}
	return n.checked(err)
}

// revive replaces the lost mount now if the server answers; false when it does not.
func (n *labNasRemote) revive(lost *nfsds.Mount) bool {
	n.mu.Lock()
	if n.mount != lost || n.closed {
		n.mu.Unlock()
		return !n.closed // another call mounted again already
	}
	mount, err := nfsds.Dial(lost.Host, lost.Port, lost.Path)
	if err == nil {
		n.mount = mount
	}
	n.mu.Unlock()
	if err == nil {
		Map.WithLock(n.ds, func() { labSetAccessible(n.ds, true) })
	}
	return err == nil
}

func (n *labNasRemote) Open(path string, readOnly bool) (vdisk.File, error) {
	f := &labNasFile{remote: n, path: path, readOnly: readOnly}
	err := n.try(func(m *nfsds.Mount) error {
		opened, err := m.Open(path, readOnly)
		if err == nil {
			f.name = opened.Name()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (n *labNasRemote) ReadFile(path string) (data []byte, err error) {
	err = n.try(func(m *nfsds.Mount) error {
		data, err = m.ReadFile(path)
		return err
	})
	return data, err
}

func (n *labNasRemote) WriteFile(path string, data []byte) error {
	return n.try(func(m *nfsds.Mount) error { return m.WriteFile(path, data) })
}

// labNasFile is a file of the datastore, reached through whichever mount is current (the mount keeps
// one handle per path).
type labNasFile struct {
	remote     *labNasRemote
	path, name string
	readOnly   bool
}

func (f *labNasFile) Name() string { return f.name }
func (f *labNasFile) Close() error { return nil }

func (f *labNasFile) ReadAt(buf []byte, off int64) (n int, err error) {
	err = f.remote.try(func(m *nfsds.Mount) error {
		file, err := m.Open(f.path, f.readOnly)
		if err == nil {
			n, err = file.ReadAt(buf, off)
		}
		return err // io.EOF included: the end of the file leaves the mount alive
	})
	return n, err
}

func (f *labNasFile) WriteAt(buf []byte, off int64) (n int, err error) {
	err = f.remote.try(func(m *nfsds.Mount) error {
		file, err := m.Open(f.path, f.readOnly)
		if err == nil {
			n, err = file.WriteAt(buf, off)
		}
		return err
	})
	return n, err
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
