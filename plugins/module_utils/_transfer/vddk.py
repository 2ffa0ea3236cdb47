# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A ctypes binding of VMware's VixDiskLib (VDDK): the ABI and its rules, no policy.

Declarations follow VixDiskLib's C API as VMware's VDDK documents it (x86-64 Linux; docs/data-mover.md
says what the binding covers, docs/vsphere-rules.md section F the rules). Rules it keeps for its
callers: InitEx once per process with log callbacks that feed Python logging; Open and Close
always on one thread (they are not thread safe); every VixError becomes a VddkError carrying
the error's name (from its low 16 bits) and VDDK's text. Load it in a process started with
LD_LIBRARY_PATH=<libdir>/lib64 (see data_mover): VDDK brings its own libssl. No Ansible imports.
"""

import collections
import concurrent.futures
import ctypes
import logging
import os
import threading
import time

from ansible_collections.vadp.vsphere.plugins.module_utils.extents import SECTOR

LOG = logging.getLogger("vadp.vddk")

MAX_CHUNKS_PER_QUERY = 512 * 1024  # QueryAllocatedBlocks answers at most this many chunks a call
NOT_SUPPORTED, DISK_NOTSUPPORTED = 6, 16013
VIX_ASYNC = 25000
OPEN_UNBUFFERED, OPEN_SINGLE_LINK, OPEN_READ_ONLY = 1, 2, 4
CRED_UID, CRED_SESSIONID = 1, 2
ERROR_NAMES = {
    0: "VIX_OK", 1: "VIX_E_FAIL", 2: "VIX_E_OUT_OF_MEMORY", 3: "VIX_E_INVALID_ARG", 4: "VIX_E_FILE_NOT_FOUND",
    5: "VIX_E_OBJECT_IS_BUSY", 6: "VIX_E_NOT_SUPPORTED", 7: "VIX_E_FILE_ERROR", 8: "VIX_E_DISK_FULL",
    11: "VIX_E_FILE_READ_ONLY", 13: "VIX_E_FILE_ACCESS_ERROR", 15: "VIX_E_FILE_ALREADY_LOCKED",
    24: "VIX_E_BUFFER_TOOSMALL", 25: "VIX_E_OBJECT_NOT_FOUND", 26: "VIX_E_HOST_NOT_CONNECTED",
    35: "VIX_E_AUTHENTICATION_FAIL", 36: "VIX_E_HOST_CONNECTION_LOST", 16000: "VIX_E_DISK_INVAL",
    16001: "VIX_E_DISK_NOINIT", 16002: "VIX_E_DISK_NOIO", 16003: "VIX_E_DISK_PARTIALCHAIN",
    16007: "VIX_E_DISK_OUTOFRANGE", 16008: "VIX_E_DISK_CID_MISMATCH", 16013: "VIX_E_DISK_NOTSUPPORTED",
    16052: "VIX_E_DISK_KEY_NOTFOUND", 16067: "VIX_E_DISK_CAPACITY_MISMATCH", 18000: "VIX_E_CANNOT_CONNECT_TO_HOST",
}
ERROR_NAMES.update((code, "VIX_E_HOST_NETWORK_%d" % code) for code in range(14008, 14016))


class VddkError(Exception):
    """A VixError: ``code`` as returned, ``name`` from its low 16 bits, VDDK's ``text``."""

    def __init__(self, function, code, text=""):
        self.function = function
        self.code = code
        self.name = ERROR_NAMES.get(code & 0xFFFF, "VIX_E_%d" % (code & 0xFFFF))
        self.text = text
        super().__init__("%s failed: %s%s" % (function, self.name, ": " + text if text and text != self.name else ""))


class VddkLibraryNotFound(VddkError):
    def __init__(self, libdir):
        super().__init__("loading VDDK", 4, (
            "no libvixDiskLib.so.9, .8, .7 or .6 under %s/lib64 or %s. Set vddk_libdir to the root of the VDDK "
            "distribution (the folder that holds lib64)" % (libdir, libdir)))


VixError = ctypes.c_uint64
LOG_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p)
COMPLETION_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, VixError)


class UidPasswdCreds(ctypes.Structure):
    _fields_ = [("userName", ctypes.c_char_p), ("password", ctypes.c_char_p)]


class SessionIdCreds(ctypes.Structure):
    _fields_ = [("cookie", ctypes.c_char_p), ("userName", ctypes.c_char_p), ("key", ctypes.c_char_p)]


class Creds(ctypes.Union):
    _fields_ = [("uid", UidPasswdCreds), ("sessionId", SessionIdCreds), ("ticketId", ctypes.c_void_p)]


class VStorageObjectSpec(ctypes.Structure):
    _fields_ = [("id", ctypes.c_char_p), ("datastoreMoRef", ctypes.c_char_p), ("ssId", ctypes.c_char_p)]


class Spec(ctypes.Union):
    _fields_ = [("vStorageObjSpec", VStorageObjectSpec)]


class ConnectParams(ctypes.Structure):
    _fields_ = [("vmxSpec", ctypes.c_char_p), ("serverName", ctypes.c_char_p), ("thumbPrint", ctypes.c_char_p),
                ("privateUse", ctypes.c_long), ("credType", ctypes.c_int), ("creds", Creds),
                ("port", ctypes.c_uint32), ("nfcHostPort", ctypes.c_uint32), ("vimApiVer", ctypes.c_char_p),
                ("reserved", ctypes.c_char * 8), ("state", ctypes.c_void_p), ("spec", Spec),
                ("specType", ctypes.c_int)]


class Geometry(ctypes.Structure):
    _fields_ = [("cylinders", ctypes.c_uint32), ("heads", ctypes.c_uint32), ("sectors", ctypes.c_uint32)]


class Info(ctypes.Structure):
    _fields_ = [("biosGeo", Geometry), ("physGeo", Geometry), ("capacity", ctypes.c_uint64),
                ("adapterType", ctypes.c_int), ("numLinks", ctypes.c_int),
                ("parentFileNameHint", ctypes.c_char_p), ("uuid", ctypes.c_char_p),
                ("logicalSectorSize", ctypes.c_uint32), ("physicalSectorSize", ctypes.c_uint32)]


class Block(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint64), ("length", ctypes.c_uint64)]


class BlockList(ctypes.Structure):
    _fields_ = [("numBlocks", ctypes.c_uint32), ("blocks", Block * 1)]


class CreateParams(ctypes.Structure):
    _fields_ = [("diskType", ctypes.c_int), ("adapterType", ctypes.c_int), ("hwVersion", ctypes.c_uint16),
                ("capacity", ctypes.c_uint64), ("logicalSectorSize", ctypes.c_uint32),
                ("physicalSectorSize", ctypes.c_uint32)]


P, c_void_p, c_char_p, c_uint32, c_uint64, c_size_t = (
    ctypes.POINTER, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_size_t)
# name: (result, arguments, needed). Optional ones (6.7+) may be missing from older libraries.
SIGNATURES = {
    "InitEx": (VixError, [c_uint32, c_uint32, LOG_FUNC, LOG_FUNC, LOG_FUNC, c_char_p, c_char_p], True),
    "Exit": (None, [], True),
    "ListTransportModes": (c_char_p, [], True),
    "AllocateConnectParams": (P(ConnectParams), [], False),
    "FreeConnectParams": (None, [P(ConnectParams)], False),
    "PrepareForAccess": (VixError, [P(ConnectParams), c_char_p], True),
    "EndAccess": (VixError, [P(ConnectParams), c_char_p], True),
    "ConnectEx": (VixError, [P(ConnectParams), ctypes.c_char, c_char_p, c_char_p, P(c_void_p)], True),
    "Disconnect": (VixError, [c_void_p], True),
    "Cleanup": (VixError, [P(ConnectParams), P(c_uint32), P(c_uint32)], True),
    "Open": (VixError, [c_void_p, c_char_p, c_uint32, P(c_void_p)], True),
    "Close": (VixError, [c_void_p], True),
    "GetInfo": (VixError, [c_void_p, P(P(Info))], True),
    "FreeInfo": (None, [P(Info)], True),
    "GetTransportMode": (c_char_p, [c_void_p], True),
    "Read": (VixError, [c_void_p, c_uint64, c_uint64, c_void_p], True),
    "Write": (VixError, [c_void_p, c_uint64, c_uint64, c_void_p], True),
    "ReadAsync": (VixError, [c_void_p, c_uint64, c_uint64, c_void_p, COMPLETION_FUNC, c_void_p], False),
    "WriteAsync": (VixError, [c_void_p, c_uint64, c_uint64, c_void_p, COMPLETION_FUNC, c_void_p], False),
    "Wait": (VixError, [c_void_p], False),
    "Flush": (VixError, [c_void_p], True),
    "ReadMetadata": (VixError, [c_void_p, c_char_p, c_char_p, c_size_t, P(c_size_t)], True),
    "WriteMetadata": (VixError, [c_void_p, c_char_p, c_char_p], True),
    "GetMetadataKeys": (VixError, [c_void_p, c_char_p, c_size_t, P(c_size_t)], True),
    "QueryAllocatedBlocks": (VixError, [c_void_p, c_uint64, c_uint64, c_uint64, P(P(BlockList))], False),
    "FreeBlockList": (VixError, [P(BlockList)], False),
    "GetErrorText": (c_void_p, [VixError, c_char_p], True),  # a pointer: FreeErrorText frees it
    "FreeErrorText": (None, [c_void_p], True),
    "Create": (VixError, [c_void_p, c_char_p, P(CreateParams), c_void_p, c_void_p], True),
}


def find_library(libdir):
    """(path, major version) of the newest libvixDiskLib under libdir/lib64, then libdir."""
    for major in (9, 8, 7, 6):
        for folder in (os.path.join(libdir, "lib64"), libdir):
            path = os.path.join(folder, "libvixDiskLib.so.%d" % major)
            if os.path.exists(path):
                return path, major
    raise VddkLibraryNotFound(libdir)


_libc = ctypes.CDLL(None)
_libc.vsnprintf.argtypes = [c_char_p, c_size_t, c_char_p, c_void_p]


class CallStats:
    """How many times each VixDiskLib function was called and the seconds the calls took (an
    asynchronous one from its issue to its completion), as nbdkit's VDDK plugin keeps them: every
    call goes through VixDiskLib.invoke or completes in Disk._completed, so nothing is left out."""

    def __init__(self):
        self._lock = threading.Lock()
        self._calls = {}

    def add(self, name, seconds):
        with self._lock:
            entry = self._calls.setdefault(name, [0, 0.0])
            entry[0] += 1
            entry[1] += seconds

    def snapshot(self):
        with self._lock:
            return {name: {"count": count, "seconds": round(seconds, 3)} for name, (count, seconds) in self._calls.items()}


class VixDiskLib:
    """The loaded library, initialised once per process (use ``VixDiskLib.load``)."""

    _instance = None
    _lock = threading.Lock()

    def __init__(self, libdir, config_file=None, recent_log_lines=50):
        self.path, self.major = find_library(libdir)
        self._lib = ctypes.CDLL(self.path)
        self.functions = {}
        for name, (restype, argtypes, needed) in SIGNATURES.items():
            function = getattr(self._lib, "VixDiskLib_" + name, None)
            if function is None:
                if needed:
                    raise VddkError("loading %s" % self.path, 6, "it has no VixDiskLib_%s" % name)
                continue
            function.restype, function.argtypes = restype, argtypes
            self.functions[name] = function
        self.recent_log = collections.deque(maxlen=recent_log_lines)
        self.calls = CallStats()
        # One thread for Open and Close, whatever thread asks: VDDK's Open and Close are not thread safe.
        self._open_close = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vddk-open-close")
        self._callbacks = [LOG_FUNC(self._make_logger(level)) for level in (logging.INFO, logging.WARNING, logging.ERROR)]
        self.call("InitEx", self.major, 0, *self._callbacks, libdir.encode(), config_file.encode() if config_file else None)

    @classmethod
    def load(cls, libdir, config_file=None):
        """The process's library: InitEx runs once, at the first call."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls(libdir, config_file)
            return cls._instance

    def _make_logger(self, level):
        def log(fmt, args):
            text = ctypes.create_string_buffer(4096)
            _libc.vsnprintf(text, len(text), fmt, args)  # VDDK hands a va_list (x86-64)
            line = text.value.decode("utf-8", "replace").rstrip("\n")
            self.recent_log.append(line)
            LOG.log(level, "%s", line)
        return log

    def has(self, name):
        return name in self.functions

    def error_text(self, code):
        pointer = self.functions["GetErrorText"](code, None)
        if not pointer:
            return ""
        try:
            return ctypes.string_at(pointer).decode("utf-8", "replace")
        finally:
            self.functions["FreeErrorText"](pointer)

    def invoke(self, name, *args):
        """VixDiskLib_<name>(*args)'s answer, the call counted and timed."""
        started = time.monotonic()
        try:
            return self.functions[name](*args)
        finally:
            self.calls.add(name, time.monotonic() - started)

    def call(self, name, *args):
        """Call VixDiskLib_<name>; a VixError other than VIX_OK raises VddkError."""
        code = self.invoke(name, *args)
        if code:
            raise VddkError("VixDiskLib_" + name, code, self.error_text(code))

    def on_open_close_thread(self, function, *args):
        return self._open_close.submit(function, *args).result()

    def transport_modes(self):
        return self.functions["ListTransportModes"]().decode()

    def connect_params(self, server=None, port=443, user=None, password=None, cookie=None, thumbprint=None,
                       vm_moref=None):
        """ConnectParams (allocated by VDDK when it can), and the strings that must outlive it."""
        if self.has("AllocateConnectParams"):
            pointer = self.functions["AllocateConnectParams"]()
        else:
            pointer = ctypes.pointer(ConnectParams())
        p = pointer.contents
        keep = [s.encode() if s else None for s in (vm_moref and "moref=" + vm_moref, server, thumbprint, user, password, cookie)]
        p.vmxSpec, p.serverName, p.thumbPrint = keep[0], keep[1], keep[2]
        if cookie:
            p.credType = CRED_SESSIONID
            p.creds.sessionId.cookie, p.creds.sessionId.userName = keep[5], keep[3]
        elif user:
            p.credType = CRED_UID
            p.creds.uid.userName, p.creds.uid.password = keep[3], keep[4]
        p.port, p.nfcHostPort = port or 0, 902
        return ConnectParamsHandle(self, pointer, keep)

    def exit(self):
        """VixDiskLib_Exit; a later load() initialises the library again."""
        self._open_close.shutdown()
        self.functions["Exit"]()
        with VixDiskLib._lock:
            if VixDiskLib._instance is self:
                VixDiskLib._instance = None


class ConnectParamsHandle:
    def __init__(self, lib, pointer, keep):
        self.lib, self.pointer, self._keep = lib, pointer, keep

    def free(self):
        if self.pointer is not None and self.lib.has("FreeConnectParams"):
            self.lib.functions["FreeConnectParams"](self.pointer)
        self.pointer = None

    def cleanup(self):
        """VixDiskLib_Cleanup: (cleaned up, remaining) leftovers of earlier crashed sessions."""
        cleaned, remaining = c_uint32(), c_uint32()
        self.lib.call("Cleanup", self.pointer, ctypes.byref(cleaned), ctypes.byref(remaining))
        return cleaned.value, remaining.value

    def prepare_for_access(self, identity):
        self.lib.call("PrepareForAccess", self.pointer, identity.encode())

    def end_access(self, identity):
        self.lib.call("EndAccess", self.pointer, identity.encode())

    def connect(self, read_only=False, snapshot_ref=None, transports=None):
        connection = c_void_p()
        self.lib.call("ConnectEx", self.pointer, b"\1" if read_only else b"\0",
                      snapshot_ref.encode() if snapshot_ref else None, transports.encode() if transports else None,
                      ctypes.byref(connection))
        return Connection(self.lib, connection)


class Connection:
    def __init__(self, lib, handle):
        self.lib, self.handle = lib, handle

    def open(self, path, read_only=False, single_link=False, unbuffered=False):
        flags = (OPEN_READ_ONLY if read_only else 0) | (OPEN_SINGLE_LINK if single_link else 0) | (
            OPEN_UNBUFFERED if unbuffered else 0)
        disk = c_void_p()
        self.lib.on_open_close_thread(self.lib.call, "Open", self.handle, path.encode(), flags, ctypes.byref(disk))
        return Disk(self.lib, disk, path)

    def create(self, path, capacity_sectors):
        params = CreateParams(diskType=2, adapterType=3, hwVersion=13, capacity=capacity_sectors)
        self.lib.call("Create", self.handle, path.encode(), ctypes.byref(params), None, None)

    def disconnect(self):
        if self.handle:
            self.lib.call("Disconnect", self.handle)
            self.handle = None


class Disk:
    """An open disk. One I/O stream at a time; async writes are bounded by ``max_in_flight``."""

    def __init__(self, lib, handle, path, max_in_flight=8):
        self.lib, self.handle, self.path = lib, handle, path
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._pending = {}  # id -> buffer, kept alive until VDDK completes it
        self._errors = []
        self._next_id = 0
        self._pending_lock = threading.Lock()
        self._completion = COMPLETION_FUNC(self._completed)

    @property
    def transport_mode(self):
        return self.lib.invoke("GetTransportMode", self.handle).decode()

    def info(self):
        pointer = P(Info)()
        self.lib.call("GetInfo", self.handle, ctypes.byref(pointer))
        try:
            i = pointer.contents
            return {"capacity_sectors": i.capacity, "adapter_type": i.adapterType, "links": i.numLinks,
                    "parent_file_name_hint": i.parentFileNameHint.decode() if i.parentFileNameHint else None,
                    "uuid": i.uuid.decode() if i.uuid else None,
                    "bios_geometry": (i.biosGeo.cylinders, i.biosGeo.heads, i.biosGeo.sectors),
                    "logical_sector_size": i.logicalSectorSize if self.lib.major >= 7 else SECTOR}
        finally:
            self.lib.functions["FreeInfo"](pointer)

    def read(self, start_sector, buffer, count=None):
        count = count if count is not None else len(buffer) // SECTOR
        self.lib.call("Read", self.handle, start_sector, count, buffer)

    def write(self, start_sector, buffer, count=None):
        count = count if count is not None else len(buffer) // SECTOR
        self.lib.call("Write", self.handle, start_sector, count, buffer)

    def _completed(self, data, code):
        with self._pending_lock:
            buffer, name, issued, on_done = self._pending.pop(data)
        self.lib.calls.add(name, time.monotonic() - issued)
        error = VddkError("VixDiskLib_" + name, code, self.lib.error_text(code)) if code else None
        if error is not None:
            self._errors.append(error)
        self._slots.release()
        if on_done is not None:
            on_done(buffer, error)

    def _queue(self, name, start_sector, buffer, count, on_done=None):
        if not self.lib.has(name):
            raise VddkError("VixDiskLib_" + name, 6, "this VDDK has no asynchronous I/O (6.7 or later has)")
        self._slots.acquire()
        with self._pending_lock:
            self._next_id += 1
            request = self._next_id
            issued = time.monotonic()
            self._pending[request] = (buffer, name, issued, on_done)
        code = self.lib.functions[name](self.handle, start_sector, count, buffer, self._completion, request)
        if code != VIX_ASYNC:  # answered at once, without calling back
            with self._pending_lock:
                self._pending.pop(request, None)
            self.lib.calls.add(name, time.monotonic() - issued)
            self._slots.release()
            if code:
                raise VddkError("VixDiskLib_" + name, code, self.lib.error_text(code))

    def write_async(self, start_sector, buffer, count=None, on_done=None):
        """Queue a write; blocks while max_in_flight are outstanding. Errors surface in wait(), and
        ``on_done(buffer, error)`` is called from VDDK's thread when the write completes."""
        count = count if count is not None else len(buffer) // SECTOR
        self._queue("WriteAsync", start_sector, buffer, count, on_done)

    def read_async(self, start_sector, buffer, count=None):
        self._queue("ReadAsync", start_sector, buffer, count if count is not None else len(buffer) // SECTOR)

    def wait(self):
        """Wait for every queued request; raise the first error any of them met."""
        if self.lib.has("Wait"):
            self.lib.call("Wait", self.handle)
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def flush(self):
        self.wait()
        self.lib.call("Flush", self.handle)

    def metadata_keys(self):
        required = c_size_t()
        code = self.lib.invoke("GetMetadataKeys", self.handle, None, 0, ctypes.byref(required))
        if code and code & 0xFFFF != 24:  # BUFFER_TOOSMALL is the expected answer to a size query
            raise VddkError("VixDiskLib_GetMetadataKeys", code, self.lib.error_text(code))
        buffer = ctypes.create_string_buffer(required.value)
        self.lib.call("GetMetadataKeys", self.handle, buffer, required.value, ctypes.byref(required))
        return [k.decode() for k in buffer.raw[:required.value].split(b"\0") if k]

    def read_metadata(self, key):
        required = c_size_t()
        code = self.lib.invoke("ReadMetadata", self.handle, key.encode(), None, 0, ctypes.byref(required))
        if code and code & 0xFFFF != 24:
            raise VddkError("VixDiskLib_ReadMetadata", code, self.lib.error_text(code))
        buffer = ctypes.create_string_buffer(required.value)
        self.lib.call("ReadMetadata", self.handle, key.encode(), buffer, required.value, ctypes.byref(required))
        return buffer.value.decode()

    def write_metadata(self, key, value):
        self.lib.call("WriteMetadata", self.handle, key.encode(), value.encode())

    def allocated_blocks(self, chunk_sectors=2048):
        """[(start_sector, sectors)] of the disk's allocated chunks, or None when this VDDK cannot
        tell (no QueryAllocatedBlocks before 6.7, or NOT_SUPPORTED from the host or datastore):
        the caller must then treat the whole disk as allocated.

        VDDK answers whole chunks only. A disk whose capacity is not a multiple of the chunk has
        a partial last chunk: the range is rounded up to whole chunks, as VDDK accepts (nbdkit's
        VDDK plugin relies on it), and the answer is clipped at the capacity. Dropping that tail
        would leave old data there after a full restore."""
        if not self.lib.has("QueryAllocatedBlocks"):
            return None
        capacity = self.info()["capacity_sectors"]
        end = -(-capacity // chunk_sectors) * chunk_sectors
        blocks, span = [], chunk_sectors * MAX_CHUNKS_PER_QUERY
        for first in range(0, end, span):
            pointer = P(BlockList)()
            try:
                self.lib.call("QueryAllocatedBlocks", self.handle, first, min(span, end - first), chunk_sectors,
                              ctypes.byref(pointer))
            except VddkError as exc:
                if exc.code & 0xFFFF in (NOT_SUPPORTED, DISK_NOTSUPPORTED):
                    return None
                raise
            try:
                listed = ctypes.cast(ctypes.addressof(pointer.contents.blocks), P(Block))
                for i in range(pointer.contents.numBlocks):
                    offset, length = listed[i].offset, min(listed[i].length, capacity - listed[i].offset)
                    if length > 0:
                        blocks.append((offset, length))
            finally:
                self.lib.call("FreeBlockList", pointer)
        return blocks

    def close(self):
        if self.handle:
            self.wait()
            handle, self.handle = self.handle, None
            self.lib.on_open_close_thread(self.lib.call, "Close", handle)
