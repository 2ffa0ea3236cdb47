package main

/*
#include <stdlib.h>
#include "vixdisklib.h"
*/
import "C"

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

var (
	stateMu     sync.Mutex
	initialized bool
	libMajor    uint32
	logInfo     *C.VixDiskLibGenericLogFunc
	logWarn     *C.VixDiskLibGenericLogFunc
	// objects maps the opaque pointers handed to callers (C allocations, so C may keep them)
	// to connections and handles.
	objects = map[uintptr]interface{}{}
	// openCloseBusy names the Open or Close running now: they are not thread safe, so two at
	// once is an error (one after the other from different threads is fine).
	openCloseBusy string
)

func logMessage(message string) {
	if logInfo != nil {
		text := C.CString("VixDiskLibDouble: " + message)
		C.vadplab_log(logInfo, text)
		C.free(unsafe.Pointer(text))
	}
}

func logWarning(message string) {
	if logWarn != nil {
		text := C.CString("VixDiskLibDouble: " + message)
		C.vadplab_log(logWarn, text)
		C.free(unsafe.Pointer(text))
	}
}

func register(object interface{}) unsafe.Pointer {
	token := C.malloc(1)
	stateMu.Lock()
	objects[uintptr(token)] = object
	stateMu.Unlock()
	return token
}

func lookup(token unsafe.Pointer) interface{} {
	stateMu.Lock()
	defer stateMu.Unlock()
	return objects[uintptr(token)]
}

func unregister(token unsafe.Pointer) {
	stateMu.Lock()
	delete(objects, uintptr(token))
	stateMu.Unlock()
	C.free(token)
}

// faultConfig is fault injection, read from the environment at InitEx:
//
//	VDDK_DOUBLE_FAIL_WRITE=N[:CODE]   the Nth write (counted per process) fails (default code 7)
//	VDDK_DOUBLE_FAIL_OPEN=CODE        every Open fails with CODE
//	VDDK_DOUBLE_DROP_AFTER=N          after N reads and writes the connection is lost (code 36)
//	VDDK_DOUBLE_CORRUPT_WRITE=N       the Nth write succeeds but one byte of it lands flipped (silent corruption)
//	VDDK_DOUBLE_SLOW_MS=MS            every read and write takes MS milliseconds longer
//	VDDK_DOUBLE_RECORD=PATH           ConnectEx writes the ConnectParams it read to PATH (JSON)
//	VDDK_DOUBLE_QUERY_ALLOCATED=unsupported   QueryAllocatedBlocks answers NOT_SUPPORTED (older hosts, some datastores)
//	VDDK_DOUBLE_CRASH_AFTER_WRITES=N  the process is killed (SIGKILL) at its (N+1)th write
//	VDDK_DOUBLE_CRASH_AFTER_READS=N   the process is killed (SIGKILL) at its (N+1)th read
//	VDDK_DOUBLE_HOLD_AT=N:PATH        the Nth read or write (counted per process) creates PATH.held, then waits
//	                                  until PATH exists: a test holds a transfer at a known point, looks, releases
type faultConfig struct {
	failWriteAt      int64
	failWriteCode    uint64
	failOpenCode     uint64
	dropAfter        int64
	slowMillis       int64
	corruptWriteAt   int64
	recordPath       string
	noAllocated      bool
	crashAfterWrites int64
	crashAfterReads  int64
	holdAt           int64
	holdPath         string
}

var faults faultConfig

func readFaultConfig() {
	faults = faultConfig{failWriteCode: 7, recordPath: os.Getenv("VDDK_DOUBLE_RECORD")}
	if v := os.Getenv("VDDK_DOUBLE_FAIL_WRITE"); v != "" {
		n, code, _ := strings.Cut(v, ":")
		faults.failWriteAt, _ = strconv.ParseInt(n, 10, 64)
		if c, err := strconv.ParseUint(code, 10, 64); err == nil {
			faults.failWriteCode = c
		}
	}
	faults.failOpenCode, _ = strconv.ParseUint(os.Getenv("VDDK_DOUBLE_FAIL_OPEN"), 10, 64)
	faults.dropAfter, _ = strconv.ParseInt(os.Getenv("VDDK_DOUBLE_DROP_AFTER"), 10, 64)
	faults.slowMillis, _ = strconv.ParseInt(os.Getenv("VDDK_DOUBLE_SLOW_MS"), 10, 64)
	faults.corruptWriteAt, _ = strconv.ParseInt(os.Getenv("VDDK_DOUBLE_CORRUPT_WRITE"), 10, 64)
	faults.noAllocated = os.Getenv("VDDK_DOUBLE_QUERY_ALLOCATED") == "unsupported"
	faults.crashAfterWrites, _ = strconv.ParseInt(os.Getenv("VDDK_DOUBLE_CRASH_AFTER_WRITES"), 10, 64)
	faults.crashAfterReads, _ = strconv.ParseInt(os.Getenv("VDDK_DOUBLE_CRASH_AFTER_READS"), 10, 64)
	if n, path, found := strings.Cut(os.Getenv("VDDK_DOUBLE_HOLD_AT"), ":"); found {
		faults.holdAt, _ = strconv.ParseInt(n, 10, 64)
		faults.holdPath = path
	}
}

// holdUntilReleased says it holds (PATH.held) and waits for the test to create PATH. Waiting on a
// file, not a timer, keeps the test's view free of timing: the transfer cannot move on meanwhile.
func holdUntilReleased() {
	_ = os.WriteFile(faults.holdPath+".held", nil, 0o644)
	for {
		if _, err := os.Stat(faults.holdPath); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
