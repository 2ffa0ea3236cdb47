package main

/*
#include <stdlib.h>
#include "vixdisklib.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/vmware/govmomi/vim25/types"

	"vadplab/vdisk"
)

const (
	flagUnbuffered = 1
	flagSingleLink = 2
	flagReadOnly   = 4
	sectorSize     = vdisk.SectorSize
)

var writeCount int64   // per process, for VDDK_DOUBLE_FAIL_WRITE
var corruptCount int64 // per process, for VDDK_DOUBLE_CORRUPT_WRITE
var crashCount int64   // per process, for VDDK_DOUBLE_CRASH_AFTER_WRITES
var holdCount int64    // per process, for VDDK_DOUBLE_HOLD_AT
var readCount int64    // per process, for VDDK_DOUBLE_CRASH_AFTER_READS

type asyncOp struct {
	write  bool
	start  uint64
	buf    []byte
	cb     C.VixDiskLibCompletionCB
	cbData uintptr // the caller's value, opaque: never a pointer the Go runtime may follow
}

type handle struct {
	conn       *connection
	chain      *vdisk.Chain
	readOnly   bool
	aligned    bool // SAN and UNBUFFERED I/O is O_DIRECT: 4 KiB aligned buffers and lengths
	transport  *C.char
	busy       int32
	unaligned  int64 // direct I/O calls that were not 4 KiB aligned
	name       string
	pending    sync.WaitGroup
	queue      chan asyncOp
	queueMutex sync.Mutex
}

// enterOpenClose enforces VDDK's rule that Open and Close are not thread safe: callers may use
// any thread (nbdkit calls them from each connection's thread, under its own lock), but never
// two at once. The returned function ends the call.
func enterOpenClose(call string) (func(), error) {
	stateMu.Lock()
	defer stateMu.Unlock()
	if openCloseBusy != "" {
		return nil, fail(vixFail, "%s while %s is still running on another thread: VixDiskLib_Open and "+
			"VixDiskLib_Close are not thread safe, serialise them", call, openCloseBusy)
	}
	openCloseBusy = call
	return func() {
		stateMu.Lock()
		openCloseBusy = ""
		stateMu.Unlock()
	}, nil
}

func findDisk(info *vmInfo, name string) *types.VirtualDisk {
	for _, disk := range info.disks {
		b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		for ok && b != nil {
			if b.FileName == name {
				return disk
			}
			b = b.Parent
		}
		if file, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok && file.GetVirtualDeviceFileBackingInfo().FileName == name {
			return disk
		}
	}
	return nil
}

func isLeaf(disk *types.VirtualDisk, name string) bool {
	file, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
	return ok && file.GetVirtualDeviceFileBackingInfo().FileName == name
}

func openDisk(c *connection, name string, flags uint32) (*handle, error) {
	leave, err := enterOpenClose("VixDiskLib_Open")
	if err != nil {
		return nil, err
	}
	defer leave()
	if faults.failOpenCode != 0 {
		return nil, fail(faults.failOpenCode, "injected failure of Open (VDDK_DOUBLE_FAIL_OPEN)")
	}
	if err := c.checkHostThumbprint(); err != nil {
		return nil, err
	}
	readOnly := c.readOnly || flags&flagReadOnly != 0
	path, err := c.localPath(name)
	if err != nil {
		return nil, err
	}
	transport := "file"
	if c.vm.Value != "" {
		// the disk privilege on the VM, and the file transfer one on vCenter (VDDK's guide, "Credentials
		// and Privileges for VMDK Access"; vSphere's "Virtual Machine Provisioning Privileges")
		diskPrivilege, files := "VirtualMachine.Provisioning.DiskRandomAccess", "VirtualMachine.Provisioning.PutVmFiles"
		if readOnly {
			diskPrivilege, files = "VirtualMachine.Provisioning.DiskRandomRead", "VirtualMachine.Provisioning.GetVmFiles"
		}
		if err := requirePrivilege(c.client, c.vm, diskPrivilege, "VixDiskLib_Open of "+name); err != nil {
			return nil, err
		}
		if err := requirePrivilege(c.client, c.client.ServiceContent.RootFolder, files, "VixDiskLib_Open of "+name); err != nil {
			return nil, err
		}
		info, err := c.queryVM()
		if err != nil {
			return nil, err
		}
		disk := findDisk(info, name)
		if disk == nil && c.snapshotRef == "" {
			return nil, fail(vixFileNotFound, "%s is not a disk of %s", name, c.vm.Value)
		}
		if info.powerState == types.VirtualMachinePowerStatePoweredOn {
			if !readOnly {
				return nil, fail(vixFileAlreadyLocked, "%s belongs to %s, which is powered on: its disks are locked "+
					"for writing (power the VM off first)", name, c.vm.Value)
			}
			if c.snapshotRef == "" || (disk != nil && isLeaf(disk, name)) {
				return nil, fail(vixFileAlreadyLocked, "%s is in use by the running VM %s: read a powered-on VM's "+
					"disks through a snapshot (snapshotRef) and the snapshot's files", name, c.vm.Value)
			}
		}
		if transport, err = c.chooseTransport(info, disk, name, readOnly); err != nil {
			return nil, err
		}
	}
	chain, err := vdisk.Open(path, readOnly, flags&flagSingleLink != 0)
	if err != nil {
		return nil, err
	}
	h := &handle{conn: c, chain: chain, readOnly: readOnly, transport: C.CString(transport), name: name,
		aligned: transport == "san" || flags&flagUnbuffered != 0}
	if transport == "hotadd" { // attached to the proxy until Close (or, after a crash, Cleanup)
		if err := setHotAdd(c.params, name, true); err != nil {
			chain.Close()
			return nil, err
		}
	}
	logMessage("opened " + name + " with transport " + transport)
	traceEvent(map[string]interface{}{"call": "open", "file": name, "transport": transport, "pid": os.Getpid()})
	return h, nil
}

// chooseTransport is VDDK's choice at Open: the first of the connection's modes that can serve
// this disk, falling back to the next one; when none can, the last refusal is the error.
func (c *connection) chooseTransport(info *vmInfo, disk *types.VirtualDisk, name string, readOnly bool) (string, error) {
	var refusal error
	for _, mode := range c.modes {
		switch mode {
		case "san":
			refusal = sanRefusal(c, info, disk, name, readOnly)
		case "hotadd":
			refusal = c.hotAddRefusal(info, name)
		case "nbdssl", "nbd":
			refusal = c.checkNFC()
		default:
			refusal = fail(vixNotSupported, "transport mode %q cannot serve a vCenter connection", mode)
		}
		if refusal == nil {
			return mode, nil
		}
		logMessage(fmt.Sprintf("transport %s cannot open %s: %v; trying the next mode", mode, name, refusal))
	}
	return "", refusal
}

// sanRefusal says why SAN cannot open this disk, or nil. SAN reads and writes the LUN directly:
// it needs a snapshotRef, and writes only base disks (no redo logs: VDDK's SAN transport does not
// write child disks), thick eager-zeroed, with change tracking off.
func sanRefusal(c *connection, info *vmInfo, disk *types.VirtualDisk, name string, readOnly bool) error {
	if c.snapshotRef == "" {
		return fail(vixNotSupported, "san needs a snapshotRef")
	}
	if readOnly {
		return nil
	}
	if disk == nil {
		return fail(vixFileNotFound, "%s is not a disk of %s", name, c.vm.Value)
	}
	b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if !ok {
		return fail(vixNotSupported, "SAN transport writes only flat disks")
	}
	for b.Parent != nil {
		if b.FileName == name {
			return fail(vixNotSupported, "SAN transport does not write redo logs: %s is a snapshot's delta disk "+
				"(open the base disk beneath the snapshot, %s)", name, baseOf(b).FileName)
		}
		b = b.Parent
	}
	thin := b.ThinProvisioned != nil && *b.ThinProvisioned
	eager := b.EagerlyScrub != nil && *b.EagerlyScrub
	if thin || !eager {
		return fail(vixNotSupported, "SAN transport writes only thick eager-zeroed disks; %s is %s (use nbdssl, nbd "+
			"or hotadd)", b.FileName, map[bool]string{true: "thin", false: "lazy-zeroed thick"}[thin])
	}
	if info.cbt {
		return fail(vixNotSupported, "SAN transport cannot write while change tracking is on for %s (disable CBT "+
			"for the restore)", c.vm.Value)
	}
	return nil
}

func baseOf(b *types.VirtualDiskFlatVer2BackingInfo) *types.VirtualDiskFlatVer2BackingInfo {
	for b.Parent != nil {
		b = b.Parent
	}
	return b
}

func (h *handle) close() error {
	leave, err := enterOpenClose("VixDiskLib_Close")
	if err != nil {
		return err
	}
	defer leave()
	h.pending.Wait()
	h.queueMutex.Lock()
	if h.queue != nil {
		close(h.queue)
		h.queue = nil
	}
	h.queueMutex.Unlock()
	if C.GoString(h.transport) == "hotadd" {
		if err := setHotAdd(h.conn.params, h.name, false); err != nil {
			return err
		}
	}
	C.free(unsafe.Pointer(h.transport))
	return h.chain.Close()
}

func (h *handle) checkIO(start, count uint64, buf unsafe.Pointer, write bool) error {
	if buf == nil {
		return fail(vixInvalidArg, "NULL buffer")
	}
	if h.aligned && (uintptr(buf)%4096 != 0 || count%8 != 0 || start%8 != 0) {
		// direct I/O (SAN, UNBUFFERED) wants 4 KiB alignment for speed; VDDK copies unaligned I/O
		// through a bounce buffer rather than failing it, so the double counts it and says so once
		if atomic.AddInt64(&h.unaligned, 1) == 1 {
			logWarning(fmt.Sprintf("unaligned direct I/O (SAN or UNBUFFERED): buffer %#x, start %d, %d sectors; "+
				"4 KiB aligned buffers, offsets and lengths are faster", uintptr(buf), start, count))
		}
	}
	if write && h.readOnly {
		return fail(vixFileReadOnly, "the disk was opened read-only (or through a read-only connection)")
	}
	n := atomic.AddInt64(&h.conn.ioCount, 1)
	if faults.dropAfter > 0 && n > faults.dropAfter {
		return fail(vixConnectionLost, "the connection to the host was lost (VDDK_DOUBLE_DROP_AFTER)")
	}
	if write && faults.crashAfterWrites > 0 && atomic.AddInt64(&crashCount, 1) > faults.crashAfterWrites ||
		!write && faults.crashAfterReads > 0 && atomic.AddInt64(&readCount, 1) > faults.crashAfterReads {
		_ = syscall.Kill(syscall.Getpid(), syscall.SIGKILL) // the process dies mid-transfer, as under kill -9
	}
	if faults.holdAt > 0 && atomic.AddInt64(&holdCount, 1) == faults.holdAt {
		holdUntilReleased()
	}
	if write && faults.failWriteAt > 0 && atomic.AddInt64(&writeCount, 1) == faults.failWriteAt {
		return fail(faults.failWriteCode, "injected failure of write number %d (VDDK_DOUBLE_FAIL_WRITE)", faults.failWriteAt)
	}
	if faults.slowMillis > 0 {
		time.Sleep(time.Duration(faults.slowMillis) * time.Millisecond)
	}
	return nil
}

func (h *handle) io(write bool, start, count uint64, buf []byte) error {
	if write {
		if faults.corruptWriteAt > 0 && atomic.AddInt64(&corruptCount, 1) == faults.corruptWriteAt && len(buf) > 0 {
			// silent corruption: the write succeeds, one byte on the disk differs (the caller's buffer does not)
			damaged := append([]byte(nil), buf...)
			damaged[len(damaged)/2] ^= 0xff
			buf = damaged
		}
		traceEvent(map[string]interface{}{"call": "write", "file": h.name, "sector": start, "count": count})
		return h.chain.WriteAt(buf, int64(start)*sectorSize)
	}
	return h.chain.ReadAt(buf, int64(start)*sectorSize)
}

// syncIO is Read or Write: one caller at a time per handle, and not while async I/O is queued.
func (h *handle) syncIO(write bool, start, count uint64, buf unsafe.Pointer) error {
	if !atomic.CompareAndSwapInt32(&h.busy, 0, 1) {
		return fail(vixObjectIsBusy, "another thread is doing I/O on this handle: one handle serves one I/O stream")
	}
	defer atomic.StoreInt32(&h.busy, 0)
	if err := h.checkIO(start, count, buf, write); err != nil {
		return err
	}
	return h.io(write, start, count, unsafe.Slice((*byte)(buf), count*sectorSize))
}

// asyncIO queues a ReadAsync or WriteAsync; the double's own goroutine does it in order and
// calls the completion callback (from a thread that is not the caller's, as VDDK does).
func (h *handle) asyncIO(op asyncOp, count uint64, buf unsafe.Pointer) error {
	if err := h.checkIO(op.start, count, buf, op.write); err != nil {
		return err
	}
	op.buf = unsafe.Slice((*byte)(buf), count*sectorSize)
	h.queueMutex.Lock()
	defer h.queueMutex.Unlock()
	if h.queue == nil {
		h.queue = make(chan asyncOp, 1024)
		go h.worker(h.queue)
	}
	h.pending.Add(1)
	h.queue <- op
	return nil
}

func (h *handle) worker(queue chan asyncOp) {
	for op := range queue {
		err := h.io(op.write, op.start, uint64(len(op.buf))/sectorSize, op.buf)
		C.vadplab_complete(op.cb, C.uintptr_t(op.cbData), C.VixError(result(err)))
		h.pending.Done()
	}
}

func (h *handle) metadataKeys() []string {
	keys := make([]string, 0, len(h.chain.Leaf().DDB))
	for k := range h.chain.Leaf().DDB {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func (h *handle) writeMetadata(key, value string) error {
	if h.readOnly {
		return fail(vixFileReadOnly, "the disk was opened read-only")
	}
	traceEvent(map[string]interface{}{"call": "metadata", "file": h.name, "key": key})
	leaf := h.chain.Leaf()
	leaf.DDB[strings.TrimPrefix(key, "ddb.")] = value
	return leaf.Write(h.chain.LeafPath())
}
