"""Raw VixDiskLib calls for the lab's tests, with the collection binding's declarations, so a
test sees the exact VixError of every call. Also runnable as a script for scenarios that need
the double's environment (fault injection) set before the library loads.
"""
import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".build", "collections"))

from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.vddk import (  # noqa: E402 - after sys.path is set
    COMPLETION_FUNC as COMPLETION,
    LOG_FUNC,
    SIGNATURES,
    Block,
    BlockList,
    ConnectParams,
    CreateParams,
    Info,
)

__all__ = ["Block", "BlockList", "COMPLETION", "ConnectParams", "CreateParams", "Info", "LOG_FUNC", "code",
           "connect_params", "load"]

# The layout is the binding's; the double's ConnectParams record (VDDK_DOUBLE_RECORD) checks it.
assert ctypes.sizeof(ConnectParams) == 128 and ConnectParams.port.offset == 64 and ConnectParams.specType.offset == 120
assert ctypes.sizeof(Info) == 64 and Info.uuid.offset == 48 and BlockList.blocks.offset == 8


def load(libdir):
    lib = ctypes.CDLL(os.path.join(libdir, "lib64", "libvixDiskLib.so.8"))
    for name, (restype, argtypes, _needed) in SIGNATURES.items():
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
    import threading

    moid, scenario = sys.argv[1], sys.argv[2]
    env = os.environ
    if scenario == "binding-connect":  # the collection's binding fills ConnectParams and connects
        from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.vddk import VixDiskLib
        params = VixDiskLib.load(env["VDDK_LIBDIR"]).connect_params(
            server=env["VMWARE_HOST"], port=int(env["VMWARE_PORT"]), user=env["VMWARE_USER"],
            password=env["VMWARE_PASSWORD"], thumbprint=env["LAB_THUMBPRINT_SHA1"], vm_moref=moid)
        params.connect(read_only=True, transports="nbd").disconnect()
        print("connect 0")
        sys.exit(0)
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
    elif scenario == "busy":  # run with VDDK_DOUBLE_HOLD_AT=1:PATH: the first read is held until the second is done
        results = []
        release = os.environ["VDDK_DOUBLE_HOLD_AT"].split(":", 1)[1]

        def read():
            results.append(code(lib.VixDiskLib_Read(handle, 0, 8, ctypes.create_string_buffer(4096))))
        first, second = threading.Thread(target=read), threading.Thread(target=read)
        first.start()
        while not os.path.exists(release + ".held"):
            time.sleep(0.01)
        second.start()
        second.join()
        open(release, "w").close()
        first.join()
        print("reads", *sorted(results))
    lib.VixDiskLib_Close(handle)
    lib.VixDiskLib_Disconnect(connection)
