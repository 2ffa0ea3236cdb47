"""A minimal ctypes view of VixDiskLib for the lab's own tests, written from vddk-abi.md.

It is deliberately independent of the collection's binding (plugins/module_utils), so a layout
mistake in either shows up as a disagreement. Also runnable as a script for scenarios that need
the double's environment (fault injection) set before the library loads.
"""
import ctypes
import os

VixError = ctypes.c_uint64
LOG_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p)
COMPLETION = ctypes.CFUNCTYPE(None, ctypes.c_void_p, VixError)


class UidCreds(ctypes.Structure):
    _fields_ = [("userName", ctypes.c_char_p), ("password", ctypes.c_char_p)]


class SessionCreds(ctypes.Structure):
    _fields_ = [("cookie", ctypes.c_char_p), ("userName", ctypes.c_char_p), ("key", ctypes.c_char_p)]


class Creds(ctypes.Union):
    _fields_ = [("uid", UidCreds), ("sessionId", SessionCreds), ("ticketId", ctypes.c_void_p)]


class ObjSpec(ctypes.Structure):
    _fields_ = [("id", ctypes.c_char_p), ("datastoreMoRef", ctypes.c_char_p), ("ssId", ctypes.c_char_p)]


class Spec(ctypes.Union):
    _fields_ = [("vStorageObjSpec", ObjSpec)]


class ConnectParams(ctypes.Structure):
    _fields_ = [("vmxSpec", ctypes.c_char_p), ("serverName", ctypes.c_char_p), ("thumbPrint", ctypes.c_char_p),
                ("privateUse", ctypes.c_long), ("credType", ctypes.c_int), ("creds", Creds),
                ("port", ctypes.c_uint32), ("nfcHostPort", ctypes.c_uint32), ("vimApiVer", ctypes.c_char_p),
                ("reserved", ctypes.c_char * 8), ("state", ctypes.c_void_p), ("spec", Spec), ("specType", ctypes.c_int)]


class Geometry(ctypes.Structure):
    _fields_ = [("cylinders", ctypes.c_uint32), ("heads", ctypes.c_uint32), ("sectors", ctypes.c_uint32)]


class Info(ctypes.Structure):
    _fields_ = [("biosGeo", Geometry), ("physGeo", Geometry), ("capacity", ctypes.c_uint64),
                ("adapterType", ctypes.c_int), ("numLinks", ctypes.c_int), ("parentFileNameHint", ctypes.c_char_p),
                ("uuid", ctypes.c_char_p), ("logicalSectorSize", ctypes.c_uint32),
                ("physicalSectorSize", ctypes.c_uint32)]


class Block(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint64), ("length", ctypes.c_uint64)]


class BlockList(ctypes.Structure):
    _fields_ = [("numBlocks", ctypes.c_uint32), ("blocks", Block * 1)]


assert ctypes.sizeof(ConnectParams) == 128 and ConnectParams.port.offset == 64 and ConnectParams.specType.offset == 120
assert ctypes.sizeof(Info) == 64 and Info.uuid.offset == 48 and BlockList.blocks.offset == 8

P = ctypes.POINTER
_SIGNATURES = {
    "InitEx": (VixError, [ctypes.c_uint32, ctypes.c_uint32, LOG_FUNC, LOG_FUNC, LOG_FUNC, ctypes.c_char_p,
                          ctypes.c_char_p]),
    "Exit": (None, []),
    "ListTransportModes": (ctypes.c_char_p, []),
    "AllocateConnectParams": (P(ConnectParams), []),
    "FreeConnectParams": (None, [P(ConnectParams)]),
    "PrepareForAccess": (VixError, [P(ConnectParams), ctypes.c_char_p]),
    "EndAccess": (VixError, [P(ConnectParams), ctypes.c_char_p]),
    "ConnectEx": (VixError, [P(ConnectParams), ctypes.c_char, ctypes.c_char_p, ctypes.c_char_p, P(ctypes.c_void_p)]),
    "Disconnect": (VixError, [ctypes.c_void_p]),
    "Cleanup": (VixError, [P(ConnectParams), P(ctypes.c_uint32), P(ctypes.c_uint32)]),
    "Open": (VixError, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32, P(ctypes.c_void_p)]),
    "Close": (VixError, [ctypes.c_void_p]),
    "GetInfo": (VixError, [ctypes.c_void_p, P(P(Info))]),
    "FreeInfo": (None, [P(Info)]),
    "GetTransportMode": (ctypes.c_char_p, [ctypes.c_void_p]),
    "Read": (VixError, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p]),
    "Write": (VixError, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p]),
    "ReadAsync": (VixError, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p, COMPLETION,
                             ctypes.c_void_p]),
    "WriteAsync": (VixError, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p, COMPLETION,
                              ctypes.c_void_p]),
    "Wait": (VixError, [ctypes.c_void_p]),
    "Flush": (VixError, [ctypes.c_void_p]),
    "ReadMetadata": (VixError, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, P(ctypes.c_size_t)]),
    "WriteMetadata": (VixError, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]),
    "GetMetadataKeys": (VixError, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, P(ctypes.c_size_t)]),
    "QueryAllocatedBlocks": (VixError, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64,
                                        P(P(BlockList))]),
    "FreeBlockList": (VixError, [P(BlockList)]),
    "GetErrorText": (ctypes.c_void_p, [VixError, ctypes.c_char_p]),  # void*: it must be freed by FreeErrorText
    "FreeErrorText": (None, [ctypes.c_void_p]),
    "Create": (VixError, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]),
}


def load(libdir):
    lib = ctypes.CDLL(os.path.join(libdir, "lib64", "libvixDiskLib.so.8"))
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(lib, "VixDiskLib_" + name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def code(error):
    return error & 0xFFFF


def connect_params(lib, vm_moid, user, password, thumbprint, host, port):
    params = lib.VixDiskLib_AllocateConnectParams()
    p = params.contents
    p.vmxSpec, p.serverName, p.thumbPrint = b"moref=" + vm_moid.encode(), host.encode(), thumbprint.encode()
    p.credType = 1
    p.creds.uid.userName, p.creds.uid.password = user.encode(), password.encode()
    p.port, p.nfcHostPort = port, 902
    return params


if __name__ == "__main__":
    # python vddk_ctypes.py MOID TRANSPORT SCENARIO: connect from the lab's env and run a scenario;
    # prints one result line a step, for tests that need fault injection set before loading.
    import sys
    import threading

    moid, scenario = sys.argv[1], sys.argv[2]
    env = os.environ
    lib = load(env["VDDK_LIBDIR"])
    keep = LOG_FUNC(lambda fmt, va_list: None)
    print("init", code(lib.VixDiskLib_InitEx(8, 0, keep, keep, keep, env["VDDK_LIBDIR"].encode(), None)))
    params = connect_params(lib, moid, env["VMWARE_USER"], env["VMWARE_PASSWORD"], env["LAB_THUMBPRINT_SHA1"],
                            env["VMWARE_HOST"], int(env["VMWARE_PORT"]))
    connection = ctypes.c_void_p()
    if scenario == "san-write":  # python vddk_ctypes.py MOID san-write PATH SNAPSHOT_MOREF
        print("connect", code(lib.VixDiskLib_ConnectEx(params, 0, sys.argv[4].encode(), b"san", ctypes.byref(connection))))
    else:
        print("connect", code(lib.VixDiskLib_ConnectEx(params, 0, None, b"nbd", ctypes.byref(connection))))
    if scenario == "connect":
        sys.exit(0)
    handle = ctypes.c_void_p()
    print("open", code(lib.VixDiskLib_Open(connection, sys.argv[3].encode(), 0, ctypes.byref(handle))))
    buf = ctypes.create_string_buffer(b"\xa5" * 4096, 4096)
    if scenario == "writes":  # away from the disk's first sectors, which other tests read
        for i in range(4):
            print("write", code(lib.VixDiskLib_Write(handle, 65536 + 8 * i, 8, buf)))
    elif scenario == "san-write":  # direct I/O: a 4 KiB aligned buffer
        raw = ctypes.create_string_buffer(8192)
        aligned = (ctypes.c_char * 4096).from_address((ctypes.addressof(raw) + 4095) // 4096 * 4096)
        ctypes.memset(aligned, 0x5A, 4096)
        print("write", code(lib.VixDiskLib_Write(handle, 0, 8, aligned)))
    elif scenario == "busy":
        results = []

        def read():
            results.append(code(lib.VixDiskLib_Read(handle, 0, 8, ctypes.create_string_buffer(4096))))
        threads = [threading.Thread(target=read), threading.Thread(target=read)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print("reads", *sorted(results))
    lib.VixDiskLib_Close(handle)
    lib.VixDiskLib_Disconnect(connection)
