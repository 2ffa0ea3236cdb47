package main

import (
	"fmt"
	"sync"

	"vadplab/vdisk"
)

// VixDiskLib error codes (low 16 bits of a VixError) the double returns.
const (
	vixOK                 = 0
	vixFail               = 1
	vixInvalidArg         = 3
	vixFileNotFound       = 4
	vixObjectIsBusy       = 5
	vixNotSupported       = 6
	vixFileReadOnly       = 11
	vixFileAlreadyLocked  = 15
	vixBufferTooSmall     = 24
	vixObjectNotFound     = 25
	vixHostNotConnected   = 26
	vixAuthenticationFail = 35
	vixConnectionLost     = 36
	vixDiskKeyNotFound    = 16052
	vixCannotConnect      = 18000
	vixHostUserPermission = 3014  // what VDDK reports when vSphere refuses the user a privilege it needs
	vixAsync              = 25000 // the success return of ReadAsync / WriteAsync
)

var errorNames = map[uint64]string{
	vixOK: "VIX_OK", vixFail: "VIX_E_FAIL", vixInvalidArg: "VIX_E_INVALID_ARG", vixFileNotFound: "VIX_E_FILE_NOT_FOUND",
	vixObjectIsBusy: "VIX_E_OBJECT_IS_BUSY", vixNotSupported: "VIX_E_NOT_SUPPORTED", 7: "VIX_E_FILE_ERROR",
	8: "VIX_E_DISK_FULL", vixFileReadOnly: "VIX_E_FILE_READ_ONLY", 13: "VIX_E_FILE_ACCESS_ERROR",
	vixFileAlreadyLocked: "VIX_E_FILE_ALREADY_LOCKED", vixBufferTooSmall: "VIX_E_BUFFER_TOOSMALL",
	vixObjectNotFound: "VIX_E_OBJECT_NOT_FOUND", vixHostNotConnected: "VIX_E_HOST_NOT_CONNECTED",
	vixAuthenticationFail: "VIX_E_AUTHENTICATION_FAIL", vixConnectionLost: "VIX_E_HOST_CONNECTION_LOST",
	16000: "VIX_E_DISK_INVAL", 16001: "VIX_E_DISK_NOINIT", 16002: "VIX_E_DISK_NOIO", 16003: "VIX_E_DISK_PARTIALCHAIN",
	16007: "VIX_E_DISK_OUTOFRANGE", 16008: "VIX_E_DISK_CID_MISMATCH", 16013: "VIX_E_DISK_NOTSUPPORTED",
	vixDiskKeyNotFound: "VIX_E_DISK_KEY_NOTFOUND", 16067: "VIX_E_DISK_CAPACITY_MISMATCH",
	vixCannotConnect: "VIX_E_CANNOT_CONNECT_TO_HOST", vixAsync: "VIX_ASYNC",
	vixHostUserPermission: "VIX_E_HOST_USER_PERMISSIONS",
}

// vixErr is an error with its VixError code; the double returns code with a high bit set, as
// real VDDK errors often carry, so callers must mask with 0xFFFF.
type vixErr struct {
	code uint64
	text string
}

func (e *vixErr) Error() string { return e.text }

const highBits = uint64(0x0123) << 32

func fail(code uint64, format string, args ...interface{}) *vixErr {
	return &vixErr{code: code, text: fmt.Sprintf(format, args...)}
}

// lastDetail keeps the most recent detail per code, for GetErrorText.
var (
	detailMu   sync.Mutex
	lastDetail = map[uint64]string{}
)

// result turns an error into the VixError to return, logging it through VDDK's warning callback.
func result(err error) uint64 {
	if err == nil {
		return vixOK
	}
	code := uint64(vixFail)
	switch e := err.(type) {
	case *vixErr:
		code = e.code
	case *vdisk.Error:
		code = e.Code
	}
	detailMu.Lock()
	lastDetail[code] = err.Error()
	detailMu.Unlock()
	logWarning(fmt.Sprintf("%s: %s", errorNames[code], err.Error()))
	if code == vixFail {
		return code // the library returns plain VIX_E_FAIL where callers (nbdkit) compare it whole
	}
	return code | highBits
}

func errorText(code uint64) string {
	code &= 0xFFFF
	name, ok := errorNames[code]
	if !ok {
		name = fmt.Sprintf("VIX_E_%d", code)
	}
	detailMu.Lock()
	detail := lastDetail[code]
	detailMu.Unlock()
	if detail != "" {
		return name + ": " + detail
	}
	return name
}
