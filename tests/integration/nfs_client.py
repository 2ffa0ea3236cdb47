"""A real NFS client for the tests: libnfs (Debian's libnfs13) through ctypes, talking NFSv4 to a
server on loopback, with no kernel NFS client involved (these machines have none). It shares no
code with the collection: it is the tests' witness of what an NFS client (ESXi) would read."""
import ctypes
import os


class _Url(ctypes.Structure):
    _fields_ = [("server", ctypes.c_char_p), ("path", ctypes.c_char_p), ("file", ctypes.c_char_p)]


_lib = ctypes.CDLL("libnfs.so.13")
_lib.nfs_init_context.restype = ctypes.c_void_p
_lib.nfs_destroy_context.argtypes = [ctypes.c_void_p]
_lib.nfs_get_error.argtypes = [ctypes.c_void_p]
_lib.nfs_get_error.restype = ctypes.c_char_p
_lib.nfs_parse_url_dir.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_lib.nfs_parse_url_dir.restype = ctypes.POINTER(_Url)
_lib.nfs_destroy_url.argtypes = [ctypes.POINTER(_Url)]
_lib.nfs_mount.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
_lib.nfs_open.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
_lib.nfs_pread.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p]
_lib.nfs_pwrite.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p]
_lib.nfs_fsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p]


# libnfs's NFSv4 calls do not split requests: reads within any server's rsize; writes of at most
# 2 KiB, since libnfs 5.0 fails to encode an NFSv4 WRITE of 4 KiB or more ("Failed to encode COMPOUND4args")
_READ_SIZE = 64 << 10
_WRITE_SIZE = 2 << 10


class NfsError(OSError):
    pass


class NfsMount:
    """An NFSv4 mount of host:port/path; files are opened by their path below it."""

    def __init__(self, host, path, port):
        self._nfs = _lib.nfs_init_context()
        self._handles = {}
        url = _lib.nfs_parse_url_dir(self._nfs, ("nfs://%s%s?version=4&nfsport=%d" % (host, path, port)).encode())
        if not url:
            self._fail("parse")
        try:
            if _lib.nfs_mount(self._nfs, url.contents.server, url.contents.path) != 0:
                self._fail("mount %s:%d%s" % (host, port, path))
        finally:
            _lib.nfs_destroy_url(url)

    def _fail(self, what):
        message = (_lib.nfs_get_error(self._nfs) or b"").decode()
        self.close()
        raise NfsError("%s: %s" % (what, message))

    def read(self, path, offset, length):
        fh = self._open(path)
        buf = ctypes.create_string_buffer(length)
        done = 0
        while done < length:
            n = _lib.nfs_pread(self._nfs, fh, offset + done, min(length - done, _READ_SIZE), ctypes.byref(buf, done))
            if n < 0:
                raise NfsError("read %s: %s" % (path, _lib.nfs_get_error(self._nfs).decode()))
            if n == 0:
                break
            done += n
        return buf.raw[:done]

    def write(self, path, offset, data):
        """Write data and commit it (fsync), as a client's stable write."""
        fh = self._open(path)
        buf = ctypes.create_string_buffer(data, len(data))
        done = 0
        while done < len(data):
            n = _lib.nfs_pwrite(self._nfs, fh, offset + done, min(len(data) - done, _WRITE_SIZE), ctypes.byref(buf, done))
            if n <= 0:
                raise NfsError("write %s: %s" % (path, _lib.nfs_get_error(self._nfs).decode()))
            done += n
        if _lib.nfs_fsync(self._nfs, fh) != 0:
            raise NfsError("fsync %s: %s" % (path, _lib.nfs_get_error(self._nfs).decode()))

    def _open(self, path):
        """path's handle, opened read-write once and kept (libnfs 5.0's nfs_close of an NFSv4 file
        now and then jumps to a null callback)."""
        if path not in self._handles:
            handle = ctypes.c_void_p()
            if _lib.nfs_open(self._nfs, path.encode(), os.O_RDWR, ctypes.byref(handle)) != 0:
                raise NfsError("open %s: %s" % (path, _lib.nfs_get_error(self._nfs).decode()))
            self._handles[path] = handle
        return self._handles[path]

    def close(self):
        if self._nfs:
            _lib.nfs_destroy_context(self._nfs)
            self._nfs = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
