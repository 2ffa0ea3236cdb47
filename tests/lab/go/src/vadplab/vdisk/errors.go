package vdisk

import (
	"errors"
	"fmt"
)

// Error carries the VixDiskLib error code (low 16 bits) that VDDK would return for the same
// condition, so the VDDK double can pass it on unchanged.
type Error struct {
	Code uint64
	Text string
}

func (e *Error) Error() string { return e.Text }

// VixDiskLib error codes the model produces.
const (
	CodeInvalidArg     = 3
	CodeFileNotFound   = 4
	CodeFileReadOnly   = 11
	CodeFileError      = 7
	CodeOutOfRange     = 16007
	CodeCIDMismatch    = 16008
	CodePartialChain   = 16003
	CodeDiskInvalid    = 16000
	CodeKeyNotFound    = 16052
	CodeBufferTooSmall = 24
)

func errorf(code uint64, format string, args ...interface{}) error {
	return &Error{Code: code, Text: fmt.Sprintf(format, args...)}
}

// CIDMismatch reports whether err is a CID mismatch (a child no longer matches its parent).
func CIDMismatch(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeCIDMismatch
}
