package vdisk

import (
	"io"
	"os"
	"strings"
	"sync"
)

// File is what a link reads and writes: a file on this machine, or one a Remote serves.
type File interface {
	io.ReaderAt
	io.WriterAt
	Close() error
	Name() string
}

// Remote is a datastore whose files are reached through a client (an NFS datastore): the disk
// model reads and writes its descriptors and extents through it, never through this machine's
// file system. Paths given to it are relative to where it is mounted.
type Remote interface {
	Open(path string, readOnly bool) (File, error)
	ReadFile(path string) ([]byte, error)
	WriteFile(path string, data []byte) error
}

var (
	remotesMu sync.Mutex
	remotes   = map[string]Remote{}
)

// Mount makes paths under prefix (a folder) resolve through r; Unmount ends it.
func Mount(prefix string, r Remote) {
	remotesMu.Lock()
	defer remotesMu.Unlock()
	remotes[strings.TrimSuffix(prefix, "/")] = r
}

func Unmount(prefix string) {
	remotesMu.Lock()
	defer remotesMu.Unlock()
	delete(remotes, strings.TrimSuffix(prefix, "/"))
}

func remoteFor(path string) (Remote, string) {
	remotesMu.Lock()
	defer remotesMu.Unlock()
	for prefix, r := range remotes {
		if strings.HasPrefix(path, prefix+"/") {
			return r, strings.TrimPrefix(path, prefix)
		}
	}
	return nil, ""
}

func openFile(path string, readOnly bool) (File, error) {
	if r, rel := remoteFor(path); r != nil {
		return r.Open(rel, readOnly)
	}
	flags := os.O_RDWR
	if readOnly {
		flags = os.O_RDONLY
	}
	return os.OpenFile(path, flags, 0)
}

func readFile(path string) ([]byte, error) {
	if r, rel := remoteFor(path); r != nil {
		return r.ReadFile(rel)
	}
	return os.ReadFile(path)
}

// IsRemote says whether path is on a mounted Remote.
func IsRemote(path string) bool {
	r, _ := remoteFor(path)
	return r != nil
}
