package main

import (
	"encoding/json"
	"os"
	"sync"
)

// VDDK_DOUBLE_TRACE=PATH appends one JSON line per Open, WriteMetadata and write to PATH, so a
// test can see what a client did to a disk and in which order (metadata before data, each
// sector written once) without the double judging it.
var (
	traceMu   sync.Mutex
	traceFile *os.File
)

func traceEvent(event map[string]interface{}) {
	path := os.Getenv("VDDK_DOUBLE_TRACE")
	if path == "" {
		return
	}
	traceMu.Lock()
	defer traceMu.Unlock()
	if traceFile == nil {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return
		}
		traceFile = f
	}
	line, _ := json.Marshal(event)
	_, _ = traceFile.Write(append(line, '\n'))
}
