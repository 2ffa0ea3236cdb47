// Command vddkdouble is built with -buildmode=c-shared into libvixDiskLib.so.8: a test double
// of VMware's VixDiskLib that the collection's ctypes binding loads as it would load the real
// library. It serves the lab's disks (vadplab/vdisk), logs in to the lab's vCenter, and enforces
// VDDK's rules with VDDK's error codes. See docs/lab.md.
package main

/*
#include <stdlib.h>
#include <string.h>
#include "vixdisklib.h"
*/
import "C"

import (
	"strings"
	"unsafe"

	"vadplab/vdisk"
)

func main() {}

var transportList = C.CString(allTransports)

//export VixDiskLib_InitEx
func VixDiskLib_InitEx(major, minor C.uint32_t, log, warn, panicFunc *C.VixDiskLibGenericLogFunc,
	libDir, configFile *C.char) C.VixError {
	stateMu.Lock()
	defer stateMu.Unlock()
	if initialized {
		return C.VixError(vixFail)
	}
	initialized, libMajor, logInfo, logWarn = true, uint32(major), log, warn
	readFaultConfig()
	return vixOK
}

//export VixDiskLib_Exit
func VixDiskLib_Exit() {
	stateMu.Lock()
	defer stateMu.Unlock()
	initialized, logInfo, logWarn = false, nil, nil
}

//export VixDiskLib_ListTransportModes
func VixDiskLib_ListTransportModes() *C.char { return transportList }

//export VixDiskLib_AllocateConnectParams
func VixDiskLib_AllocateConnectParams() *C.VixDiskLibConnectParams {
	return (*C.VixDiskLibConnectParams)(C.calloc(1, C.size_t(unsafe.Sizeof(C.VixDiskLibConnectParams{}))))
}

//export VixDiskLib_FreeConnectParams
func VixDiskLib_FreeConnectParams(p *C.VixDiskLibConnectParams) { C.free(unsafe.Pointer(p)) }

func checkInitialized() error {
	stateMu.Lock()
	defer stateMu.Unlock()
	if !initialized {
		return fail(vixFail, "VixDiskLib_InitEx was not called")
	}
	return nil
}

func prepareOrEnd(p *C.VixDiskLibConnectParams, identity *C.char, prepare bool) error {
	if err := checkInitialized(); err != nil {
		return err
	}
	if p == nil || identity == nil {
		return fail(vixInvalidArg, "NULL connectParams or identity")
	}
	if len(C.GoString(identity)) > 50 {
		return fail(vixInvalidArg, "identity %q is longer than 50 characters", C.GoString(identity))
	}
	params := readConnectParams(p)
	if !strings.HasPrefix(params.VmxSpec, "moref=") {
		return fail(vixInvalidArg, "PrepareForAccess and EndAccess need vmxSpec moref=vm-N")
	}
	client, err := login(params)
	if err != nil {
		return err
	}
	privilege, step := "Global.EnableMethods", "VixDiskLib_EndAccess"
	if prepare {
		privilege, step = "Global.DisableMethods", "VixDiskLib_PrepareForAccess"
	}
	if err := requirePrivilege(client, client.ServiceContent.RootFolder, privilege, step); err != nil {
		return err
	}
	return setAccess(params, prepare)
}

//export VixDiskLib_PrepareForAccess
func VixDiskLib_PrepareForAccess(p *C.VixDiskLibConnectParams, identity *C.char) C.VixError {
	return C.VixError(result(prepareOrEnd(p, identity, true)))
}

//export VixDiskLib_EndAccess
func VixDiskLib_EndAccess(p *C.VixDiskLibConnectParams, identity *C.char) C.VixError {
	return C.VixError(result(prepareOrEnd(p, identity, false)))
}

//export VixDiskLib_ConnectEx
func VixDiskLib_ConnectEx(p *C.VixDiskLibConnectParams, readOnly C.Bool, snapshotRef, transportModes *C.char,
	out *C.VixDiskLibConnection) C.VixError {
	if err := checkInitialized(); err != nil {
		return C.VixError(result(err))
	}
	if p == nil || out == nil {
		return C.VixError(result(fail(vixInvalidArg, "NULL connectParams or connection pointer")))
	}
	c, err := connect(p, readOnly != 0, goString(snapshotRef), goString(transportModes))
	if err != nil {
		return C.VixError(result(err))
	}
	*out = C.VixDiskLibConnection(register(c))
	return vixOK
}

//export VixDiskLib_Disconnect
func VixDiskLib_Disconnect(conn C.VixDiskLibConnection) C.VixError {
	if _, ok := lookup(unsafe.Pointer(conn)).(*connection); !ok {
		return C.VixError(result(fail(vixInvalidArg, "not a connection")))
	}
	unregister(unsafe.Pointer(conn))
	return vixOK
}

//export VixDiskLib_Cleanup
func VixDiskLib_Cleanup(p *C.VixDiskLibConnectParams, cleaned, remaining *C.uint32_t) C.VixError {
	var done, left uint32
	if p != nil {
		if params := readConnectParams(p); params.ServerName != "" {
			var err error
			if done, left, err = cleanupHotAdd(params); err != nil {
				return C.VixError(result(err))
			}
		}
	}
	if cleaned != nil {
		*cleaned = C.uint32_t(done)
	}
	if remaining != nil {
		*remaining = C.uint32_t(left)
	}
	return vixOK
}

//export VixDiskLib_Open
func VixDiskLib_Open(conn C.VixDiskLibConnection, path *C.char, flags C.uint32_t, out *C.VixDiskLibHandle) C.VixError {
	c, ok := lookup(unsafe.Pointer(conn)).(*connection)
	if !ok || path == nil || out == nil {
		return C.VixError(result(fail(vixInvalidArg, "VixDiskLib_Open needs a connection, a path and a handle pointer")))
	}
	h, err := openDisk(c, C.GoString(path), uint32(flags))
	if err != nil {
		return C.VixError(result(err))
	}
	*out = C.VixDiskLibHandle(register(h))
	return vixOK
}

func handleOf(h C.VixDiskLibHandle) (*handle, error) {
	disk, ok := lookup(unsafe.Pointer(h)).(*handle)
	if !ok {
		return nil, fail(vixInvalidArg, "not an open disk handle")
	}
	return disk, nil
}

//export VixDiskLib_Close
func VixDiskLib_Close(h C.VixDiskLibHandle) C.VixError {
	disk, err := handleOf(h)
	if err == nil {
		if err = disk.close(); err == nil || !strings.Contains(err.Error(), "one thread") {
			unregister(unsafe.Pointer(h))
		}
	}
	return C.VixError(result(err))
}

//export VixDiskLib_GetTransportMode
func VixDiskLib_GetTransportMode(h C.VixDiskLibHandle) *C.char {
	disk, err := handleOf(h)
	if err != nil {
		return nil
	}
	return disk.transport
}

//export VixDiskLib_Read
func VixDiskLib_Read(h C.VixDiskLibHandle, start, count C.VixDiskLibSectorType, buf *C.uint8_t) C.VixError {
	disk, err := handleOf(h)
	if err == nil {
		err = disk.syncIO(false, uint64(start), uint64(count), unsafe.Pointer(buf))
	}
	return C.VixError(result(err))
}

//export VixDiskLib_Write
func VixDiskLib_Write(h C.VixDiskLibHandle, start, count C.VixDiskLibSectorType, buf *C.uint8_t) C.VixError {
	disk, err := handleOf(h)
	if err == nil {
		err = disk.syncIO(true, uint64(start), uint64(count), unsafe.Pointer(buf))
	}
	return C.VixError(result(err))
}

func queue(h C.VixDiskLibHandle, write bool, start, count C.VixDiskLibSectorType, buf *C.uint8_t,
	cb C.VixDiskLibCompletionCB, data unsafe.Pointer) C.VixError {
	disk, err := handleOf(h)
	if err == nil {
		err = disk.asyncIO(asyncOp{write: write, start: uint64(start), cb: cb, cbData: uintptr(data)}, uint64(count), unsafe.Pointer(buf))
	}
	if err != nil {
		return C.VixError(result(err))
	}
	return vixAsync
}

//export VixDiskLib_ReadAsync
func VixDiskLib_ReadAsync(h C.VixDiskLibHandle, start, count C.VixDiskLibSectorType, buf *C.uint8_t,
	cb C.VixDiskLibCompletionCB, data unsafe.Pointer) C.VixError {
	return queue(h, false, start, count, buf, cb, data)
}

//export VixDiskLib_WriteAsync
func VixDiskLib_WriteAsync(h C.VixDiskLibHandle, start, count C.VixDiskLibSectorType, buf *C.uint8_t,
	cb C.VixDiskLibCompletionCB, data unsafe.Pointer) C.VixError {
	return queue(h, true, start, count, buf, cb, data)
}

//export VixDiskLib_Wait
func VixDiskLib_Wait(h C.VixDiskLibHandle) C.VixError {
	disk, err := handleOf(h)
	if err == nil {
		disk.pending.Wait()
	}
	return C.VixError(result(err))
}

//export VixDiskLib_Flush
func VixDiskLib_Flush(h C.VixDiskLibHandle) C.VixError {
	disk, err := handleOf(h)
	if err == nil {
		disk.pending.Wait()
		err = disk.chain.Flush()
	}
	return C.VixError(result(err))
}

//export VixDiskLib_ReadMetadata
func VixDiskLib_ReadMetadata(h C.VixDiskLibHandle, key *C.char, buf *C.char, bufLen C.size_t, required *C.size_t) C.VixError {
	disk, err := handleOf(h)
	if err != nil || key == nil {
		return C.VixError(result(fail(vixInvalidArg, "ReadMetadata needs a handle and a key")))
	}
	value, ok := disk.chain.Leaf().DDB[strings.TrimPrefix(C.GoString(key), "ddb.")]
	if !ok {
		return C.VixError(result(fail(vixDiskKeyNotFound, "no metadata key %q", C.GoString(key))))
	}
	return C.VixError(result(copyOut(value+"\x00", buf, bufLen, required)))
}

//export VixDiskLib_GetMetadataKeys
func VixDiskLib_GetMetadataKeys(h C.VixDiskLibHandle, buf *C.char, bufLen C.size_t, required *C.size_t) C.VixError {
	disk, err := handleOf(h)
	if err != nil {
		return C.VixError(result(err))
	}
	return C.VixError(result(copyOut(strings.Join(disk.metadataKeys(), "\x00")+"\x00\x00", buf, bufLen, required)))
}

// copyOut copies data (NULs included) into a caller's buffer, or says how large it must be.
func copyOut(data string, buf *C.char, bufLen C.size_t, required *C.size_t) error {
	if required != nil {
		*required = C.size_t(len(data))
	}
	if buf == nil || int(bufLen) < len(data) {
		return fail(vixBufferTooSmall, "the buffer holds %d bytes, %d are needed", int(bufLen), len(data))
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(buf)), len(data)), data)
	return nil
}

//export VixDiskLib_WriteMetadata
func VixDiskLib_WriteMetadata(h C.VixDiskLibHandle, key, value *C.char) C.VixError {
	disk, err := handleOf(h)
	if err == nil && (key == nil || value == nil) {
		err = fail(vixInvalidArg, "WriteMetadata needs a key and a value")
	}
	if err == nil {
		err = disk.writeMetadata(C.GoString(key), C.GoString(value))
	}
	return C.VixError(result(err))
}

//export VixDiskLib_GetInfo
func VixDiskLib_GetInfo(h C.VixDiskLibHandle, out **C.VixDiskLibInfo) C.VixError {
	disk, err := handleOf(h)
	if err != nil || out == nil {
		return C.VixError(result(fail(vixInvalidArg, "GetInfo needs a handle and an output pointer")))
	}
	leaf := disk.chain.Leaf()
	info := (*C.VixDiskLibInfo)(C.calloc(1, C.size_t(unsafe.Sizeof(C.VixDiskLibInfo{}))))
	geometry := C.VixDiskLibGeometry{cylinders: C.uint32_t(atoi(leaf.DDB["geometry.cylinders"])),
		heads: C.uint32_t(atoi(leaf.DDB["geometry.heads"])), sectors: C.uint32_t(atoi(leaf.DDB["geometry.sectors"]))}
	info.biosGeo, info.physGeo = geometry, geometry
	info.capacity = C.VixDiskLibSectorType(disk.chain.Capacity() / sectorSize)
	info.adapterType = C.int(map[string]int{"ide": 1, "buslogic": 2}[leaf.DDB["adapterType"]])
	if info.adapterType == 0 {
		info.adapterType = 3 // SCSI_LSILOGIC, as VDDK reports for LSI, SAS and PVSCSI disks
	}
	info.numLinks = C.int(len(disk.chain.Links()))
	if leaf.ParentFileNameHint != "" {
		info.parentFileNameHint = C.CString(leaf.ParentFileNameHint)
	}
	info.uuid = C.CString(leaf.DDB["uuid"])
	// the library (7.0+) fills these whatever version InitEx asked for; callers of older
	// versions simply do not read them
	info.logicalSectorSize, info.physicalSectorSize = sectorSize, sectorSize
	*out = info
	return vixOK
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

//export VixDiskLib_FreeInfo
func VixDiskLib_FreeInfo(info *C.VixDiskLibInfo) {
	if info == nil {
		return
	}
	C.free(unsafe.Pointer(info.parentFileNameHint))
	C.free(unsafe.Pointer(info.uuid))
	C.free(unsafe.Pointer(info))
}

//export VixDiskLib_QueryAllocatedBlocks
func VixDiskLib_QueryAllocatedBlocks(h C.VixDiskLibHandle, start, count, chunk C.VixDiskLibSectorType,
	out **C.VixDiskLibBlockList) C.VixError {
	disk, err := handleOf(h)
	if err != nil || out == nil {
		return C.VixError(result(fail(vixInvalidArg, "QueryAllocatedBlocks needs a handle and an output pointer")))
	}
	first, n, size := uint64(start), uint64(count), uint64(chunk)
	capacity := uint64(disk.chain.Capacity()) / sectorSize
	switch {
	case faults.noAllocated:
		err = fail(vixNotSupported, "QueryAllocatedBlocks is not supported here (VDDK_DOUBLE_QUERY_ALLOCATED)")
	case size < 128 || size > 131072:
		err = fail(vixInvalidArg, "chunkSize %d is outside 128..131072 sectors", size)
	case first%size != 0 || n%size != 0:
		err = fail(vixInvalidArg, "startSector %d and numSectors %d must be multiples of chunkSize %d", first, n, size)
	case n/size > 512*1024:
		err = fail(vixInvalidArg, "more than 524288 chunks in one query")
	case first+n > (capacity+size-1)/size*size:
		// whole chunks only: a disk whose capacity is not a multiple of the chunk is queried up to
		// the end of its last, partial chunk (nbdkit rounds up so), and no further
		err = &vdisk.Error{Code: vdisk.CodeOutOfRange, Text: "the range is beyond the disk's last chunk"}
	}
	if err != nil {
		return C.VixError(result(err))
	}
	var blocks [][2]uint64 // in sectors, chunk aligned, merged
	for _, r := range disk.chain.Allocated() {
		s := uint64(r[0]) / sectorSize / size * size
		e := (uint64(r[1])/sectorSize + size - 1) / size * size
		if s < first {
			s = first
		}
		if e > first+n {
			e = first + n
		}
		if s >= e {
			continue
		}
		if k := len(blocks); k > 0 && s <= blocks[k-1][1] {
			if e > blocks[k-1][1] {
				blocks[k-1][1] = e
			}
			continue
		}
		blocks = append(blocks, [2]uint64{s, e})
	}
	if len(blocks) > 512*1024 {
		return C.VixError(result(fail(vixInvalidArg, "more than 524288 blocks: query a smaller range")))
	}
	list := (*C.VixDiskLibBlockList)(C.calloc(1, C.size_t(8+16*(len(blocks)+1))))
	list.numBlocks = C.uint32_t(len(blocks))
	items := unsafe.Slice((*C.VixDiskLibBlock)(unsafe.Pointer(uintptr(unsafe.Pointer(list))+8)), len(blocks))
	for i, b := range blocks {
		items[i].offset, items[i].length = C.VixDiskLibSectorType(b[0]), C.VixDiskLibSectorType(b[1]-b[0])
	}
	*out = list
	return vixOK
}

//export VixDiskLib_FreeBlockList
func VixDiskLib_FreeBlockList(list *C.VixDiskLibBlockList) C.VixError {
	C.free(unsafe.Pointer(list))
	return vixOK
}

//export VixDiskLib_GetErrorText
func VixDiskLib_GetErrorText(code C.VixError, locale *C.char) *C.char {
	return C.CString(errorText(uint64(code)))
}

//export VixDiskLib_FreeErrorText
func VixDiskLib_FreeErrorText(text *C.char) { C.free(unsafe.Pointer(text)) }

//export VixDiskLib_Create
func VixDiskLib_Create(conn C.VixDiskLibConnection, path *C.char, params *C.VixDiskLibCreateParams,
	progress C.VixDiskLibProgressFunc, data unsafe.Pointer) C.VixError {
	c, ok := lookup(unsafe.Pointer(conn)).(*connection)
	if !ok || path == nil || params == nil {
		return C.VixError(result(fail(vixInvalidArg, "Create needs a connection, a path and CreateParams")))
	}
	if c.vm.Value != "" {
		return C.VixError(result(fail(vixNotSupported, "Create works on local disks only; create remote disks with vSphere")))
	}
	err := vdisk.Create(C.GoString(path), vdisk.CreateOptions{Capacity: int64(params.capacity) * sectorSize,
		Provisioning: vdisk.Thin})
	return C.VixError(result(err))
}
