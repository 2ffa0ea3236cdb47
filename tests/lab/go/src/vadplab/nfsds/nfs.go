// Package nfsds is the lab's NFS client for NAS datastores: libnfs (Debian's libnfs13) through cgo,
// NFSv4 over TCP, so that what a lab VM reads from an NFS datastore really crossed NFS from the
// server that serves it. It implements vdisk.Remote.
package nfsds

/*
#cgo LDFLAGS: -lnfs
#include <stdlib.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/time.h>
#include <signal.h>
#include <pthread.h>
#include <nfsc/libnfs.h>

// libnfs's synchronous calls poll() and fail on EINTR ("Poll failed"), leaving the request
// queued. Go's runtime signals its threads (goroutine preemption), so each call runs with every
// signal blocked on its thread; what arrived meanwhile is delivered when the mask is restored.
#define QUIET(call) ({ sigset_t all, old; sigfillset(&all); pthread_sigmask(SIG_BLOCK, &all, &old); \
	int status = (call); pthread_sigmask(SIG_SETMASK, &old, NULL); status; })
static int q_mount(struct nfs_context *n, const char *server, const char *path) { return QUIET(nfs_mount(n, server, path)); }
static int q_open(struct nfs_context *n, const char *path, int flags, struct nfsfh **fh) { return QUIET(nfs_open(n, path, flags, fh)); }
static int q_creat(struct nfs_context *n, const char *path, int mode, struct nfsfh **fh) { return QUIET(nfs_creat(n, path, mode, fh)); }
static int q_pread(struct nfs_context *n, struct nfsfh *fh, uint64_t offset, uint64_t count, void *buf) {
	return QUIET(nfs_pread(n, fh, offset, count, buf));
}
static int q_pwrite(struct nfs_context *n, struct nfsfh *fh, uint64_t offset, uint64_t count, const void *buf) {
	return QUIET(nfs_pwrite(n, fh, offset, count, buf));
}
static int q_fsync(struct nfs_context *n, struct nfsfh *fh) { return QUIET(nfs_fsync(n, fh)); }
static int q_ftruncate(struct nfs_context *n, struct nfsfh *fh, uint64_t length) { return QUIET(nfs_ftruncate(n, fh, length)); }
*/
import "C"

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unsafe"

	"vadplab/vdisk"
)

const (
	readSize = 64 << 10
	// libnfs 4.0 fails to encode an NFSv4 WRITE of 4 KiB or more ("Failed to encode COMPOUND4args")
	writeSize = 2 << 10
)

// Mount is one NFSv4 mount. libnfs's synchronous calls on one context are not safe from several
// goroutines at once, so every call holds mu. Files stay open for the mount's life, one handle per
// path, as a host keeps a running VM's disks open: libnfs 4.0's nfs_close of an NFSv4 file now and
// then jumps to a null callback and takes the process down.
type Mount struct {
	mu      sync.Mutex
	nfs     *C.struct_nfs_context
	dead    bool // the connection failed: the context is never used again (see error)
	handles map[string]*C.struct_nfsfh
	Host    string
	Port    int
	Path    string
}

// Dial mounts host:port/path (NFSv4).
func Dial(host string, port int, path string) (*Mount, error) {
	m := &Mount{nfs: C.nfs_init_context(), handles: map[string]*C.struct_nfsfh{}, Host: host, Port: port, Path: path}
	if m.nfs == nil {
		return nil, fmt.Errorf("libnfs: no context")
	}
	url := C.CString(fmt.Sprintf("nfs://%s%s?version=4&nfsport=%d", host, path, port))
	defer C.free(unsafe.Pointer(url))
	parsed := C.nfs_parse_url_dir(m.nfs, url)
	if parsed == nil {
		err := m.error("parsing the URL")
		m.Close()
		return nil, err
	}
	defer C.nfs_destroy_url(parsed)
	if C.q_mount(m.nfs, parsed.server, parsed.path) != 0 {
		err := m.error(fmt.Sprintf("mounting %s:%s (port %d)", host, path, port))
		m.Close()
		return nil, err
	}
	return m, nil
}

// error reports the last call's failure. A lost connection ends the mount: libnfs 4.0 leaves the
// failed call's request queued with a pointer into the caller's stack, and the next call on the
// context would complete it there, writing over memory that is no longer its own. So does a server
// that restarted and no longer knows this client (its lease expired): the context is useless.
func (m *Mount) error(what string) error {
	message := C.GoString(C.nfs_get_error(m.nfs))
	for _, lost := range []string{"nfs_service failed", "Poll failed", "connect", "NFS4ERR_EXPIRED", "NFS4ERR_STALE_CLIENTID",
		"NFS4ERR_BADSESSION", "NFS4ERR_DEADSESSION"} {
		m.dead = m.dead || strings.Contains(message, lost) // the connection, or the server's state of this client, is gone
	}
	return fmt.Errorf("NFS %s: %s", what, message)
}

// usable says whether calls may be made; call with mu held.
func (m *Mount) usable(what string) error {
	if m.nfs == nil || m.dead {
		return fmt.Errorf("NFS %s: the server %s:%d is unreachable (the mount was lost)", what, m.Host, m.Port)
	}
	return nil
}

// Close unmounts; a lost mount's context is left as it is (see error).
func (m *Mount) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nfs != nil && !m.dead {
		C.nfs_destroy_context(m.nfs)
	}
	m.nfs = nil
}

// Alive says whether the mount still reaches its server.
func (m *Mount) Alive() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.usable("") == nil
}

type file struct {
	m    *Mount
	fh   *C.struct_nfsfh
	name string
}

// open gives path's handle, opened read-write (created if need be) the first time.
func (m *Mount) open(path string, create bool) (*file, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable("opening " + path); err != nil {
		return nil, err
	}
	if fh, ok := m.handles[path]; ok {
		return &file{m: m, fh: fh, name: path}, nil
	}
	name := C.CString(path)
	defer C.free(unsafe.Pointer(name))
	var fh *C.struct_nfsfh
	status := C.q_open(m.nfs, name, C.O_RDWR, &fh)
	if status != 0 && create {
		status = C.q_creat(m.nfs, name, 0o644, &fh) // libnfs's open does not create
	}
	if status != 0 {
		return nil, m.error("opening " + path)
	}
	m.handles[path] = fh
	return &file{m: m, fh: fh, name: path}, nil
}

// Open opens a file of the datastore (vdisk.Remote).
func (m *Mount) Open(path string, readOnly bool) (vdisk.File, error) {
	return m.open(path, false)
}

// ReadFile reads a whole (small) file.
func (m *Mount) ReadFile(path string) ([]byte, error) {
	f, err := m.open(path, false)
	if err != nil {
		return nil, err
	}
	var data []byte
	buf := make([]byte, readSize)
	for off := int64(0); ; off += int64(readSize) {
		n, err := f.ReadAt(buf, off)
		data = append(data, buf[:n]...)
		if err != nil && err != io.EOF {
			return nil, err
		}
		if err == io.EOF || n < readSize {
			return data, nil
		}
	}
}

// WriteFile replaces a (small) file's content and commits it.
func (m *Mount) WriteFile(path string, data []byte) error {
	f, err := m.open(path, true)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable("truncating " + path); err != nil {
		return err
	}
	if C.q_ftruncate(m.nfs, f.fh, C.uint64_t(len(data))) != 0 {
		return m.error("truncating " + path)
	}
	return nil
}

func (f *file) Name() string { return strings.TrimPrefix(f.m.Path+f.name, "/") }

// ReadAt reads len(buf) bytes at off; a short read at the end of the file fills with what there is.
func (f *file) ReadAt(buf []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.m.usable("reading " + f.name); err != nil {
		return 0, err
	}
	done := 0
	for done < len(buf) {
		size := len(buf) - done
		if size > readSize {
			size = readSize
		}
		n := C.q_pread(f.m.nfs, f.fh, C.uint64_t(off+int64(done)), C.uint64_t(size), unsafe.Pointer(&buf[done]))
		if n < 0 {
			return done, f.m.error("reading " + f.name)
		}
		if n == 0 {
			return done, io.EOF
		}
		done += int(n)
	}
	return done, nil
}

// WriteAt writes buf at off and commits it (a stable write, as ESXi's are for a VM's disk).
func (f *file) WriteAt(buf []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.m.usable("writing " + f.name); err != nil {
		return 0, err
	}
	done := 0
	for done < len(buf) {
		size := len(buf) - done
		if size > writeSize {
			size = writeSize
		}
		n := C.q_pwrite(f.m.nfs, f.fh, C.uint64_t(off+int64(done)), C.uint64_t(size), unsafe.Pointer(&buf[done]))
		if n <= 0 {
			return done, f.m.error("writing " + f.name)
		}
		done += int(n)
	}
	if C.q_fsync(f.m.nfs, f.fh) != 0 {
		return done, f.m.error("committing " + f.name)
	}
	return done, nil
}

// Close keeps the handle open (see Mount).
func (f *file) Close() error { return nil }
