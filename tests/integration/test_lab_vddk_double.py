"""The lab's VDDK double, driven through ctypes: every exported function, its error codes, and
each VDDK rule it enforces. Results are checked against the lab (inspect, pyVmomi)."""
import ctypes
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading

import pytest
from pyVmomi import vim

import vddk_ctypes as v
from conftest import find_vm_by_name, settle, wait

VM = "DC0_C0_RP0_VM0"
SECTOR = 512
HERE = os.path.dirname(__file__)
FILE_ALREADY_LOCKED, FILE_READ_ONLY, NOT_SUPPORTED, INVALID_ARG, BUFFER_TOOSMALL = 15, 11, 6, 3, 24


_libc = ctypes.CDLL(None)
_libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]


class Double:
    def __init__(self, lab, lib):
        self.lab, self.lib, self.messages = lab, lib, []
        self.log = v.LOG_FUNC(self._log)  # kept alive as long as the library may call it

    def _log(self, fmt, args):
        # VDDK passes a format and a va_list; on x86-64 libc's vsnprintf formats it.
        text = ctypes.create_string_buffer(1024)
        _libc.vsnprintf(text, len(text), fmt, args)
        self.messages.append(text.value)

    def params(self, moid, password=None, thumbprint=None):
        lab = self.lab
        return v.connect_params(self.lib, moid, lab.user, password or lab.password, thumbprint or lab.thumbprint_sha1,
                                lab.host, lab.port)

    def connect(self, moid, read_only=False, snapshot=None, transports=b"nbdssl:nbd", **kwargs):
        connection = ctypes.c_void_p()
        error = self.lib.VixDiskLib_ConnectEx(self.params(moid, **kwargs), int(read_only),
                                              snapshot.encode() if snapshot else None, transports,
                                              ctypes.byref(connection))
        return v.code(error), connection

    def open(self, connection, path, flags=0):
        handle = ctypes.c_void_p()
        return v.code(self.lib.VixDiskLib_Open(connection, path.encode(), flags, ctypes.byref(handle))), handle


@pytest.fixture(scope="module")
def double(lab):
    lib = v.load(os.environ["VDDK_LIBDIR"])
    d = Double(lab, lib)
    assert lib.VixDiskLib_InitEx(8, 0, d.log, d.log, d.log, os.environ["VDDK_LIBDIR"].encode(), None) == 0
    assert v.code(lib.VixDiskLib_InitEx(8, 0, d.log, d.log, d.log, None, None)) == 1  # once per process
    yield d
    lib.VixDiskLib_Exit()


@pytest.fixture
def vm(si):
    [machine] = find_vm_by_name(si, VM)
    yield machine
    settle(machine)


def _leaf(vm):
    return [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0].backing.fileName


def test_connect_params_reach_the_double_at_the_right_offsets(lab, vm, tmp_path):
    record = tmp_path / "params.json"
    env = dict(os.environ, VDDK_DOUBLE_RECORD=str(record))
    out = subprocess.run([sys.executable, os.path.join(HERE, "vddk_ctypes.py"), vm._moId, "connect"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "connect 0" in out
    seen = json.loads(record.read_text())
    assert seen == {"VmxSpec": "moref=" + vm._moId, "ServerName": lab.host, "ThumbPrint": lab.thumbprint_sha1,
                    "Port": lab.port, "NfcHostPort": 902, "CredType": 1, "UserName": lab.user,
                    "PasswordSHA256": hashlib.sha256(lab.password.encode()).hexdigest(), "Cookie": "", "SpecType": 0,
                    "ReadOnly": False}


def test_connection_errors_and_access_calls(double, vm):
    lib = double.lib
    assert lib.VixDiskLib_ListTransportModes() == b"file:san:hotadd:nbdssl:nbd"
    assert double.connect(vm._moId, password="wrong")[0] == 35  # AUTHENTICATION_FAIL
    # a wrong thumbprint is found where VDDK finds it: when Open first reaches the host, not at ConnectEx
    error, connection = double.connect(vm._moId, thumbprint="AA:" * 19 + "AA")
    assert error == 0
    assert double.open(connection, _leaf(vm))[0] == 18000  # CANNOT_CONNECT_TO_HOST
    lib.VixDiskLib_Disconnect(connection)
    assert double.connect(vm._moId, transports=b"tape")[0] == INVALID_ARG  # no such mode
    assert double.connect("vm-999999")[0] == 25  # OBJECT_NOT_FOUND
    params = double.params(vm._moId)
    assert lib.VixDiskLib_PrepareForAccess(params, b"vadp.vsphere test") == 0
    assert v.code(lib.VixDiskLib_PrepareForAccess(params, b"x" * 51)) == INVALID_ARG
    assert lib.VixDiskLib_EndAccess(params, b"vadp.vsphere test") == 0
    cleaned, remaining = ctypes.c_uint32(7), ctypes.c_uint32(7)
    assert lib.VixDiskLib_Cleanup(params, ctypes.byref(cleaned), ctypes.byref(remaining)) == 0
    assert (cleaned.value, remaining.value) == (0, 0)
    lib.VixDiskLib_FreeConnectParams(params)


def test_a_powered_on_vm_is_locked_and_readable_only_through_a_snapshot(double, vm, lab):
    leaf = _leaf(vm)
    error, connection = double.connect(vm._moId)
    assert error == 0
    assert double.open(connection, leaf)[0] == FILE_ALREADY_LOCKED
    double.lib.VixDiskLib_Disconnect(connection)

    snapshot = wait(vm.CreateSnapshot_Task("backup", "", False, False))
    error, connection = double.connect(vm._moId, read_only=True, snapshot=snapshot._moId,
                                       transports=b"hotadd:nbdssl")
    assert error == 0
    assert double.open(connection, _leaf(vm))[0] == FILE_ALREADY_LOCKED  # the running VM's leaf
    error, handle = double.open(connection, leaf)  # the snapshot's file
    assert error == 0 and double.lib.VixDiskLib_GetTransportMode(handle) == b"hotadd"
    buf = ctypes.create_string_buffer(SECTOR)
    assert double.lib.VixDiskLib_Read(handle, 0, 1, buf) == 0
    with open(lab.disk_file(VM, leaf).replace(".vmdk", "-flat.vmdk"), "rb") as flat:
        assert buf.raw == flat.read(SECTOR)  # the snapshot's file, read independently
    assert v.code(double.lib.VixDiskLib_Write(handle, 0, 1, buf)) == FILE_READ_ONLY
    assert double.lib.VixDiskLib_Close(handle) == 0
    double.lib.VixDiskLib_Disconnect(connection)


def test_read_write_async_info_metadata_and_allocation_on_a_powered_off_vm(double, vm, lab):
    lib = double.lib
    wait(vm.PowerOffVM_Task())
    before = lab.inspect(VM)["disks"][0]
    error, connection = double.connect(vm._moId)
    assert error == 0
    error, handle = double.open(connection, _leaf(vm))
    assert error == 0 and lib.VixDiskLib_GetTransportMode(handle) == b"nbdssl"

    info = ctypes.POINTER(v.Info)()
    assert lib.VixDiskLib_GetInfo(handle, ctypes.byref(info)) == 0
    assert info.contents.capacity * SECTOR == before["capacity"] and info.contents.numLinks == 1
    assert info.contents.logicalSectorSize == SECTOR and info.contents.uuid.startswith(b"60 00 c2")
    lib.VixDiskLib_FreeInfo(info)

    data = os.urandom(8 * SECTOR)
    assert lib.VixDiskLib_Write(handle, 2048, 8, data) == 0
    done, errors = threading.Event(), []
    callback = v.COMPLETION(lambda _data, error: (errors.append(v.code(error)), done.set()))
    buffers = [ctypes.create_string_buffer(bytes([i]) * 4096, 4096) for i in range(1, 5)]
    for i, b in enumerate(buffers):
        assert lib.VixDiskLib_WriteAsync(handle, 4096 + 8 * i, 8, b, callback, None) == 25000  # VIX_ASYNC
    beyond = ctypes.create_string_buffer(4096)
    assert lib.VixDiskLib_WriteAsync(handle, info_capacity(lib, handle), 8, beyond, callback, None) == 25000
    assert lib.VixDiskLib_Wait(handle) == 0
    assert errors == [0, 0, 0, 0, 16007]  # in order; the last one beyond the end (DISK_OUTOFRANGE)
    back = ctypes.create_string_buffer(8 * SECTOR)
    assert lib.VixDiskLib_Read(handle, 2048, 8, back) == 0 and back.raw == data
    assert v.code(lib.VixDiskLib_Read(handle, info_capacity(lib, handle), 1, back)) == 16007

    required = ctypes.c_size_t()
    assert v.code(lib.VixDiskLib_GetMetadataKeys(handle, None, 0, ctypes.byref(required))) == BUFFER_TOOSMALL
    keys = ctypes.create_string_buffer(required.value)
    assert lib.VixDiskLib_GetMetadataKeys(handle, keys, required.value, ctypes.byref(required)) == 0
    assert b"adapterType" in keys.raw.split(b"\0") and keys.raw.endswith(b"\0\0")
    assert lib.VixDiskLib_WriteMetadata(handle, b"toolsVersion", b"12352") == 0
    value = ctypes.create_string_buffer(32)
    assert lib.VixDiskLib_ReadMetadata(handle, b"toolsVersion", value, 32, ctypes.byref(required)) == 0
    assert value.value == b"12352"
    assert v.code(lib.VixDiskLib_ReadMetadata(handle, b"nope", value, 32, ctypes.byref(required))) == 16052

    blocks = ctypes.POINTER(v.BlockList)()
    capacity = info_capacity(lib, handle)
    assert lib.VixDiskLib_QueryAllocatedBlocks(handle, 0, capacity, 128, ctypes.byref(blocks)) == 0
    listed = ctypes.cast(ctypes.addressof(blocks.contents.blocks), ctypes.POINTER(v.Block))
    allocated = [(listed[i].offset, listed[i].length) for i in range(blocks.contents.numBlocks)]
    assert allocated[0][0] == 0 and any(o <= 2048 < o + n for o, n in allocated)
    assert lib.VixDiskLib_FreeBlockList(blocks) == 0
    assert v.code(lib.VixDiskLib_QueryAllocatedBlocks(handle, 0, capacity, 100, ctypes.byref(blocks))) == INVALID_ARG

    assert lib.VixDiskLib_Flush(handle) == 0 and lib.VixDiskLib_Close(handle) == 0
    assert lib.VixDiskLib_Disconnect(connection) == 0
    after = lab.inspect(VM)["disks"][0]
    assert after["sha256"] != before["sha256"] and after["cid"] != before["cid"]  # written; new CID
    assert any(m.startswith(b"VixDiskLibDouble: opened [LocalDS_0]") for m in double.messages)  # logs arrive


def info_capacity(lib, handle):
    info = ctypes.POINTER(v.Info)()
    assert lib.VixDiskLib_GetInfo(handle, ctypes.byref(info)) == 0
    capacity = info.contents.capacity
    lib.VixDiskLib_FreeInfo(info)
    return capacity


def test_open_and_close_from_several_threads_one_at_a_time(double, vm):
    """nbdkit opens and closes from each connection's thread under its own lock, as the real
    library allows: not thread safe means never two at once, not always the same thread."""
    wait(vm.PowerOffVM_Task())
    error, connection = double.connect(vm._moId)
    results = []
    thread = threading.Thread(target=lambda: results.append(double.open(connection, _leaf(vm))))
    thread.start()
    thread.join()
    [(error, handle)] = results
    assert error == 0
    assert double.lib.VixDiskLib_Close(handle) == 0  # closed from the main thread
    double.lib.VixDiskLib_Disconnect(connection)


def test_san_writes_only_thick_eager_zeroed_disks_without_cbt(double, vm):
    wait(vm.PowerOffVM_Task())
    snapshot = wait(vm.CreateSnapshot_Task("san", "", False, False))
    error, connection = double.connect(vm._moId, snapshot=snapshot._moId, transports=b"san")
    assert error == 0
    base = [d for d in snapshot.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0].backing.fileName
    assert double.open(connection, base)[0] == NOT_SUPPORTED  # the lab's stock disks are thin
    double.lib.VixDiskLib_Disconnect(connection)
    # the transport is chosen at each Open: SAN refuses this disk, VDDK falls back to the next mode
    error, connection = double.connect(vm._moId, snapshot=snapshot._moId, transports=b"san:nbd")
    error, handle = double.open(connection, _leaf(vm))
    assert error == 0 and double.lib.VixDiskLib_GetTransportMode(handle) == b"nbd"
    assert double.lib.VixDiskLib_Close(handle) == 0
    double.lib.VixDiskLib_Disconnect(connection)
    assert any(b"transport san cannot open" in m for m in double.messages)


def test_hotadd_writes_a_powered_off_vm_without_a_snapshot(double, vm):
    """The restore snapshot is optional for every transport but SAN: HotAdd attaches a powered-off
    VM's disks directly, so a restore writes each sector once."""
    wait(vm.PowerOffVM_Task())
    error, connection = double.connect(vm._moId, transports=b"hotadd")
    assert error == 0
    error, handle = double.open(connection, _leaf(vm))
    assert error == 0 and double.lib.VixDiskLib_GetTransportMode(handle) == b"hotadd"
    assert double.lib.VixDiskLib_Close(handle) == 0
    double.lib.VixDiskLib_Disconnect(connection)


@pytest.mark.parametrize("this_machine, refusal", [
    ("", b"this machine is not a virtual machine"),
    (VM, b"cannot hot-add its own disks"),
])
def test_hotadd_needs_this_machine_to_be_another_vm_of_the_vcenter(double, vm, lab, this_machine, refusal):
    """VDDK finds the backup proxy by the BIOS UUID in this machine's SMBIOS: from a machine that is
    no VM, or from the VM whose disks are opened, HotAdd cannot serve and Open falls back."""
    wait(vm.PowerOffVM_Task())
    lab.control("/faults", {"this_machine": this_machine})
    try:
        error, connection = double.connect(vm._moId, transports=b"hotadd")
        assert error == 0
        assert double.open(connection, _leaf(vm))[0] == NOT_SUPPORTED
        double.lib.VixDiskLib_Disconnect(connection)
        error, connection = double.connect(vm._moId, transports=b"hotadd:nbd")
        error, handle = double.open(connection, _leaf(vm))
        assert error == 0 and double.lib.VixDiskLib_GetTransportMode(handle) == b"nbd"
        assert double.lib.VixDiskLib_Close(handle) == 0
        double.lib.VixDiskLib_Disconnect(connection)
    finally:
        lab.control("/faults", {"this_machine": "vadp-proxy"})
    assert any(refusal in m for m in double.messages), double.messages[-3:]


def test_allocation_query_covers_a_partial_last_chunk(double, tmp_path):
    """nbdkit rounds a QueryAllocatedBlocks range up to whole chunks; the library answers up to
    the end of the last, partial chunk (and no further)."""
    lib = double.lib
    local = v.ConnectParams()
    connection = ctypes.c_void_p()
    assert lib.VixDiskLib_ConnectEx(ctypes.byref(local), 0, None, b"file", ctypes.byref(connection)) == 0
    path = str(tmp_path / "odd.vmdk").encode()
    params = v.CreateParams(diskType=2, adapterType=3, hwVersion=13, capacity=2000)  # 1000 KiB
    assert lib.VixDiskLib_Create(connection, path, ctypes.byref(params), None, None) == 0
    handle = ctypes.c_void_p()
    assert lib.VixDiskLib_Open(connection, path, 0, ctypes.byref(handle)) == 0
    assert lib.VixDiskLib_Write(handle, 1992, 8, ctypes.create_string_buffer(b"z" * 4096, 4096)) == 0
    blocks = ctypes.POINTER(v.BlockList)()
    assert lib.VixDiskLib_QueryAllocatedBlocks(handle, 0, 2048, 128, ctypes.byref(blocks)) == 0  # rounded up
    listed = ctypes.cast(ctypes.addressof(blocks.contents.blocks), ctypes.POINTER(v.Block))
    assert [(listed[i].offset, listed[i].length) for i in range(blocks.contents.numBlocks)] == [(1920, 128)]
    assert lib.VixDiskLib_FreeBlockList(blocks) == 0
    assert v.code(lib.VixDiskLib_QueryAllocatedBlocks(handle, 0, 2048 + 128, 128, ctypes.byref(blocks))) == 16007
    info = ctypes.POINTER(v.Info)()
    assert lib.VixDiskLib_GetInfo(handle, ctypes.byref(info)) == 0
    assert info.contents.logicalSectorSize == SECTOR  # filled whatever major version InitEx asked for
    lib.VixDiskLib_FreeInfo(info)
    assert lib.VixDiskLib_Close(handle) == 0 and lib.VixDiskLib_Disconnect(connection) == 0


def test_error_text_names_the_error(double):
    text = double.lib.VixDiskLib_GetErrorText((0x7 << 40) | 16008, None)
    assert ctypes.string_at(text).startswith(b"VIX_E_DISK_CID_MISMATCH")
    double.lib.VixDiskLib_FreeErrorText(text)


def _scenario(vm, *args, **env):
    return subprocess.run([sys.executable, os.path.join(HERE, "vddk_ctypes.py"), vm._moId] + list(args),
                          env=dict(os.environ, **env), capture_output=True, text=True, check=True).stdout.split("\n")


@pytest.mark.watches_transfer
def test_injected_faults(vm, tmp_path):
    wait(vm.PowerOffVM_Task())
    leaf = _leaf(vm)
    assert _scenario(vm, "writes", leaf, VDDK_DOUBLE_FAIL_WRITE="3:8")[3:7] == [
        "write 0", "write 0", "write 8", "write 0"]  # the 3rd write fails with DISK_FULL
    assert _scenario(vm, "writes", leaf, VDDK_DOUBLE_DROP_AFTER="2")[5] == "write 36"  # HOST_CONNECTION_LOST
    assert _scenario(vm, "writes", leaf, VDDK_DOUBLE_FAIL_OPEN="4")[2] == "open 4"
    assert _scenario(vm, "busy", leaf, VDDK_DOUBLE_HOLD_AT="1:%s" % (tmp_path / "release"))[3] == "reads 0 5"  # OBJECT_IS_BUSY


def test_single_link_async_read_and_parent_hint_on_a_delta(double, vm):
    lib = double.lib
    wait(vm.PowerOffVM_Task())
    base = _leaf(vm)
    wait(vm.CreateSnapshot_Task("s", "", False, False))
    error, connection = double.connect(vm._moId)
    assert error == 0
    error, whole = double.open(connection, _leaf(vm))
    assert error == 0
    info = ctypes.POINTER(v.Info)()
    assert lib.VixDiskLib_GetInfo(whole, ctypes.byref(info)) == 0
    assert info.contents.numLinks == 2 and info.contents.parentFileNameHint == base.split("/")[-1].encode()
    lib.VixDiskLib_FreeInfo(info)
    through, done = ctypes.create_string_buffer(4096), []
    callback = v.COMPLETION(lambda _data, error: done.append(v.code(error)))
    assert lib.VixDiskLib_ReadAsync(whole, 0, 8, through, callback, None) == 25000
    assert lib.VixDiskLib_Wait(whole) == 0 and done == [0]
    assert through.raw.count(0) < 4096  # sector 0 holds data, read through the parent
    assert lib.VixDiskLib_Close(whole) == 0

    error, single = double.open(connection, _leaf(vm), flags=2)  # SINGLE_LINK: the delta alone
    assert error == 0
    alone = ctypes.create_string_buffer(4096)
    assert lib.VixDiskLib_Read(single, 0, 8, alone) == 0 and alone.raw == bytes(4096)
    assert lib.VixDiskLib_Close(single) == 0
    lib.VixDiskLib_Disconnect(connection)


def test_create_makes_a_local_disk(double, tmp_path):
    lib = double.lib
    local = v.ConnectParams()  # no server and no vmxSpec: a local connection
    connection = ctypes.c_void_p()
    assert lib.VixDiskLib_ConnectEx(ctypes.byref(local), 0, None, b"file", ctypes.byref(connection)) == 0
    path = str(tmp_path / "new.vmdk").encode()
    params = v.CreateParams(diskType=2, adapterType=3, hwVersion=13, capacity=2048)
    assert v.CreateParams.capacity.offset == 16
    assert lib.VixDiskLib_Create(connection, path, ctypes.byref(params), None, None) == 0
    handle = ctypes.c_void_p()
    assert lib.VixDiskLib_Open(connection, path, 0, ctypes.byref(handle)) == 0
    assert lib.VixDiskLib_GetTransportMode(handle) == b"file"
    assert info_capacity(lib, handle) == 2048
    assert lib.VixDiskLib_Close(handle) == 0 and lib.VixDiskLib_Disconnect(connection) == 0


def test_san_writes_land_in_the_base_disk_under_the_snapshot(double, eager_vm, lab):
    base = _leaf(eager_vm)
    snapshot = wait(eager_vm.CreateSnapshot_Task("san-restore", "", False, False))
    error, connection = double.connect(eager_vm._moId, snapshot=snapshot._moId, transports=b"san")
    assert error == 0
    assert double.open(connection, _leaf(eager_vm))[0] == NOT_SUPPORTED  # SAN does not write redo logs
    error, handle = double.open(connection, base)  # the base disk beneath the snapshot
    assert error == 0 and double.lib.VixDiskLib_GetTransportMode(handle) == b"san"
    keep = ctypes.create_string_buffer(12288)
    aligned = (ctypes.c_char * 8192).from_address((ctypes.addressof(keep) + 4095) // 4096 * 4096)
    ctypes.memset(aligned, 0x5A, 4096)
    assert double.lib.VixDiskLib_Write(handle, 0, 8, aligned) == 0
    assert double.lib.VixDiskLib_Close(handle) == 0
    double.lib.VixDiskLib_Disconnect(connection)
    with open(lab.disk_file("lab-eager", base).replace(".vmdk", "-flat.vmdk"), "rb") as flat:
        assert flat.read(4096) == b"\x5a" * 4096  # in the base, beneath the snapshot's delta
    with pytest.raises(vim.fault.GenericVmConfigFault, match="parent virtual disk has been modified"):
        wait(snapshot.RemoveSnapshot_Task(removeChildren=False))  # rule A.4 (docs/vsphere-rules.md): revert first

    wait(eager_vm.ReconfigVM_Task(vim.vm.ConfigSpec(changeTrackingEnabled=True)))
    wait(snapshot.RevertToSnapshot_Task())  # a stun: CBT is now on
    error, connection = double.connect(eager_vm._moId, snapshot=snapshot._moId, transports=b"san")
    assert double.open(connection, base)[0] == NOT_SUPPORTED  # SAN refuses while CBT is on
    double.lib.VixDiskLib_Disconnect(connection)


FORK_THEN_INIT = """
import ctypes, os, sys
lib = ctypes.CDLL(os.path.join(sys.argv[1], "lib64", "libvixDiskLib.so.8"))  # loaded before the fork
pid = os.fork()
if pid == 0:  # as nbdkit in daemon mode: InitEx only in the forked child
    lib.VixDiskLib_ListTransportModes.restype = ctypes.c_char_p
    ok = lib.VixDiskLib_InitEx(8, 0, None, None, None, None, None) == 0 and lib.VixDiskLib_ListTransportModes()
    lib.VixDiskLib_Exit()
    os._exit(0 if ok else 3)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_a_client_that_forks_between_loading_and_init_ex_works():
    """The real library starts its threads in InitEx; the double's Go part is loaded only then,
    by its C front, so a fork before InitEx finds no runtime to lose (it used to hang)."""
    process = subprocess.Popen([sys.executable, "-c", FORK_THEN_INIT, os.environ["VDDK_LIBDIR"]], start_new_session=True)
    try:
        assert process.wait(timeout=120) == 0  # the bound only turns a hang into a failure
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the forked child too
        raise AssertionError("VixDiskLib_InitEx after a fork hangs")
