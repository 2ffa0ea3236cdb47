package main

/*
#include "vixdisklib.h"
*/
import "C"

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const allTransports = "file:san:hotadd:nbdssl:nbd"

type connection struct {
	vm           types.ManagedObjectReference // empty for a local connection
	readOnly     bool
	snapshotRef  string
	modes        []string // the caller's transport modes, in order: Open chooses among them
	params       connectParams
	thumbprintOK bool
	client       *vim25.Client
	datastores   map[string]string // name -> local folder
	ioCount      int64
}

type connectParams struct {
	VmxSpec, ServerName, ThumbPrint string
	Port, NfcHostPort               uint32
	CredType                        int
	UserName, PasswordSHA256        string
	Cookie                          string
	SpecType                        int
	ReadOnly                        bool // ConnectEx's argument, recorded with the struct's fields
	password                        string
}

func goString(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

func readConnectParams(p *C.VixDiskLibConnectParams) connectParams {
	params := connectParams{
		VmxSpec:     goString(p.vmxSpec),
		ServerName:  goString(p.serverName),
		ThumbPrint:  goString(p.thumbPrint),
		Port:        uint32(p.port),
		NfcHostPort: uint32(p.nfcHostPort),
		CredType:    int(p.credType),
		SpecType:    int(p.specType),
	}
	switch params.CredType {
	case 1: // VIXDISKLIB_CRED_UID
		uid := (*C.VixDiskLibUidPasswdCreds)(unsafe.Pointer(&p.creds))
		params.UserName, params.password = goString(uid.userName), goString(uid.password)
		sum := sha256.Sum256([]byte(params.password))
		params.PasswordSHA256 = fmt.Sprintf("%x", sum)
	case 2: // VIXDISKLIB_CRED_SESSIONID
		sid := (*C.VixDiskLibSessionIdCreds)(unsafe.Pointer(&p.creds))
		params.Cookie, params.UserName = goString(sid.cookie), goString(sid.userName)
	}
	return params
}

// recordParams is the layout self-check: the fields as the double read them (never the
// password itself, only its SHA-256).
func recordParams(params connectParams) {
	if faults.recordPath == "" {
		return
	}
	data, _ := json.MarshalIndent(params, "", "  ")
	_ = os.WriteFile(faults.recordPath, data, 0o600)
}

func thumbprintOf(der []byte, sha256Form bool) string {
	var sum []byte
	if sha256Form {
		s := sha256.Sum256(der)
		sum = s[:]
	} else {
		s := sha1.Sum(der)
		sum = s[:]
	}
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// checkThumbprint compares the server certificate with the thumbprint the caller gave, as VDDK
// does; VDDK refuses a server it cannot verify.
func checkThumbprint(address, thumbprint string) error {
	if thumbprint == "" {
		return fail(vixCannotConnect, "no thumbPrint in the ConnectParams: VDDK verifies the server certificate")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", address,
		&tls.Config{InsecureSkipVerify: true}) // the thumbprint is the check
	if err != nil {
		return fail(vixCannotConnect, "cannot connect to %s: %v", address, err)
	}
	defer conn.Close()
	der := conn.ConnectionState().PeerCertificates[0].Raw
	given := strings.ToUpper(strings.TrimSpace(thumbprint))
	if given != thumbprintOf(der, false) && given != thumbprintOf(der, true) {
		return fail(vixCannotConnect, "the server certificate of %s does not match thumbprint %s", address, thumbprint)
	}
	return nil
}

func serverAddress(params connectParams) string {
	port := params.Port
	if port == 0 {
		port = 443
	}
	return net.JoinHostPort(params.ServerName, strconv.Itoa(int(port)))
}

// checkHostThumbprint is where VDDK verifies the thumbprint: when Open first reaches the host
// for data (NFC), not at ConnectEx, which only logs in to the vSphere API.
func (c *connection) checkHostThumbprint() error {
	if c.vm.Value == "" || c.thumbprintOK {
		return nil
	}
	if err := checkThumbprint(serverAddress(c.params), c.params.ThumbPrint); err != nil {
		return err
	}
	c.thumbprintOK = true
	return nil
}

func login(params connectParams) (*vim25.Client, error) {
	address := serverAddress(params)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := &url.URL{Scheme: "https", Host: address, Path: "/sdk"}
	client, err := vim25.NewClient(ctx, soap.NewClient(u, true))
	if err != nil {
		return nil, fail(vixCannotConnect, "cannot reach the vSphere API at %s: %v", address, err)
	}
	manager := session.NewManager(client)
	switch params.CredType {
	case 1:
		err = manager.Login(ctx, url.UserPassword(params.UserName, params.password))
	case 2:
		client.Client.Jar.SetCookies(u, []*http.Cookie{{Name: soap.SessionCookieName, Value: params.Cookie}})
		var current *types.UserSession
		current, err = manager.UserSession(ctx)
		if err == nil && current == nil {
			err = fmt.Errorf("the session cookie is not a valid session")
		}
	default:
		return nil, fail(vixInvalidArg, "credType %d is not supported by the double (use UID or SESSIONID)", params.CredType)
	}
	if err != nil {
		return nil, fail(vixAuthenticationFail, "login to %s as %q failed: %v", address, params.UserName, err)
	}
	return client, nil
}

// vmInfo is what the double needs to know of the VM now.
type vmInfo struct {
	powerState types.VirtualMachinePowerState
	cbt        bool
	disks      []*types.VirtualDisk
	snapshots  []types.ManagedObjectReference
}

func (c *connection) queryVM() (*vmInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var vm mo.VirtualMachine
	err := property.DefaultCollector(c.client).RetrieveOne(ctx, c.vm,
		[]string{"runtime.powerState", "config.hardware.device", "config.changeTrackingEnabled", "snapshot"}, &vm)
	if err != nil {
		return nil, fail(vixObjectNotFound, "VM %s: %v", c.vm.Value, err)
	}
	info := &vmInfo{powerState: vm.Runtime.PowerState}
	if vm.Config != nil {
		info.cbt = vm.Config.ChangeTrackingEnabled != nil && *vm.Config.ChangeTrackingEnabled
		for _, d := range vm.Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok {
				info.disks = append(info.disks, disk)
			}
		}
	}
	if vm.Snapshot != nil {
		var walk func([]types.VirtualMachineSnapshotTree)
		walk = func(nodes []types.VirtualMachineSnapshotTree) {
			for _, n := range nodes {
				info.snapshots = append(info.snapshots, n.Snapshot)
				walk(n.ChildSnapshotList)
			}
		}
		walk(vm.Snapshot.RootSnapshotList)
	}
	return info, nil
}

func (c *connection) loadDatastores() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := view.NewManager(c.client).CreateContainerView(ctx, c.client.ServiceContent.RootFolder, []string{"Datastore"}, true)
	if err != nil {
		return fail(vixHostNotConnected, "listing datastores: %v", err)
	}
	defer v.Destroy(ctx)
	var stores []mo.Datastore
	if err := v.Retrieve(ctx, []string{"Datastore"}, []string{"name", "info"}, &stores); err != nil {
		return fail(vixHostNotConnected, "listing datastores: %v", err)
	}
	c.datastores = map[string]string{}
	for _, ds := range stores {
		c.datastores[ds.Name] = ds.Info.GetDatastoreInfo().Url
	}
	return nil
}

// localPath resolves "[datastore] folder/disk.vmdk" to the lab's file.
func (c *connection) localPath(name string) (string, error) {
	if c.vm.Value == "" {
		return name, nil
	}
	if !strings.HasPrefix(name, "[") || !strings.Contains(name, "] ") {
		return "", fail(vixInvalidArg, "%q is not a datastore path ([datastore] folder/disk.vmdk)", name)
	}
	ds, rel, _ := strings.Cut(name[1:], "] ")
	folder, ok := c.datastores[ds]
	if !ok {
		return "", fail(vixFileNotFound, "no datastore %q", ds)
	}
	return filepath.Join(folder, rel), nil
}

// transportModes is the caller's colon-separated list (all modes when empty), checked for
// names VDDK knows; which one serves a disk is chosen at each Open.
func transportModes(modes string, local bool) ([]string, error) {
	if modes == "" {
		modes = allTransports
	}
	var usable []string
	for _, mode := range strings.Split(modes, ":") {
		switch mode {
		case "file":
			if local {
				usable = append(usable, mode)
			}
		case "san", "hotadd", "nbdssl", "nbd":
			if !local {
				usable = append(usable, mode)
			}
		default:
			return nil, fail(vixInvalidArg, "unknown transport mode %q in %q", mode, modes)
		}
	}
	if len(usable) == 0 {
		return nil, fail(vixNotSupported, "none of the transport modes %q can serve this connection", modes)
	}
	return usable, nil
}

func connect(p *C.VixDiskLibConnectParams, readOnly bool, snapshotRef, modes string) (*connection, error) {
	params := readConnectParams(p)
	params.ReadOnly = readOnly
	recordParams(params)
	c := &connection{readOnly: readOnly, snapshotRef: snapshotRef, params: params}
	local := params.ServerName == "" && params.VmxSpec == ""
	var err error
	if c.modes, err = transportModes(modes, local); err != nil {
		return nil, err
	}
	if local {
		return c, nil
	}
	moref := strings.TrimPrefix(params.VmxSpec, "moref=")
	if moref == params.VmxSpec || moref == "" {
		return nil, fail(vixInvalidArg, "vmxSpec %q is not of the form moref=vm-N", params.VmxSpec)
	}
	c.vm = types.ManagedObjectReference{Type: "VirtualMachine", Value: moref}
	if c.client, err = login(params); err != nil {
		return nil, err
	}
	info, err := c.queryVM()
	if err != nil {
		return nil, err
	}
	if snapshotRef != "" && !containsRef(info.snapshots, snapshotRef) {
		return nil, fail(vixObjectNotFound, "%s is not a snapshot of %s", snapshotRef, moref)
	}
	return c, c.loadDatastores()
}

func containsRef(refs []types.ManagedObjectReference, value string) bool {
	for _, r := range refs {
		if r.Value == value {
			return true
		}
	}
	return false
}
