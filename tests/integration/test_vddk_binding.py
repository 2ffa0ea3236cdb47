"""The collection's VDDK binding (plugins/module_utils/vddk.py) against the lab's VDDK double."""
import hashlib
import json
import os
import subprocess
import sys
import threading

import pytest
from pyVmomi import vim

from conftest import find_vm_by_name, wait
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.vddk import (
    VddkError,
    VddkLibraryNotFound,
    VixDiskLib,
    find_library,
)

VM = "DC0_C0_RP0_VM1"
HERE = os.path.dirname(__file__)


@pytest.fixture(scope="module")
def vddk():
    lib = VixDiskLib.load(os.environ["VDDK_LIBDIR"])
    yield lib
    lib.exit()
    assert VixDiskLib.load(os.environ["VDDK_LIBDIR"]) is not lib  # a new InitEx after Exit
    VixDiskLib.load(os.environ["VDDK_LIBDIR"]).exit()


@pytest.fixture
def vm(si):
    [machine] = find_vm_by_name(si, VM)
    yield machine
    if machine.runtime.powerState != "poweredOn":
        wait(machine.PowerOnVM_Task())


def _leaf(vm):
    return [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0].backing.fileName


def _params(vddk, lab, vm, **overrides):
    settings = dict(server=lab.host, port=lab.port, user=lab.user, password=lab.password,
                    thumbprint=lab.thumbprint_sha1, vm_moref=vm._moId)
    settings.update(overrides)
    return vddk.connect_params(**settings)


def test_the_library_is_found_with_its_major_version(tmp_path):
    path, major = find_library(os.environ["VDDK_LIBDIR"])
    assert path.endswith("lib64/libvixDiskLib.so.8") and major == 8
    with pytest.raises(VddkLibraryNotFound, match="Set vddk_libdir to the root of the VDDK distribution"):
        find_library(str(tmp_path))
    (tmp_path / "libvixDiskLib.so.6").write_bytes(b"")  # an old layout, without lib64
    assert find_library(str(tmp_path)) == (str(tmp_path / "libvixDiskLib.so.6"), 6)


def test_every_connect_params_field_reaches_the_library_at_its_offset(lab, vm, tmp_path):
    record = tmp_path / "params.json"
    subprocess.run([sys.executable, os.path.join(HERE, "vddk_ctypes.py"), vm._moId, "binding-connect"],
                   env=dict(os.environ, VDDK_DOUBLE_RECORD=str(record)), check=True, capture_output=True)
    assert json.loads(record.read_text()) == {
        "VmxSpec": "moref=" + vm._moId, "ServerName": lab.host, "ThumbPrint": lab.thumbprint_sha1, "Port": lab.port,
        "NfcHostPort": 902, "CredType": 1, "UserName": lab.user, "Cookie": "", "SpecType": 0, "ReadOnly": True,
        "PasswordSHA256": hashlib.sha256(lab.password.encode()).hexdigest()}


def test_errors_carry_their_name_whatever_the_high_bits(vddk, lab, vm):
    with pytest.raises(VddkError) as caught:
        _params(vddk, lab, vm, password="wrong").connect(transports="nbd")
    error = caught.value
    assert error.name == "VIX_E_AUTHENTICATION_FAIL" and error.code >> 16 != 0 and error.code & 0xFFFF == 35
    assert "VixDiskLib_ConnectEx failed: VIX_E_AUTHENTICATION_FAIL" in str(error) and lab.user in str(error)


def test_the_rules_surface_as_typed_errors(vddk, lab, vm):
    connection = _params(vddk, lab, vm).connect(transports="nbdssl")
    with pytest.raises(VddkError) as caught:
        connection.open(_leaf(vm))  # the VM is on
    assert caught.value.name == "VIX_E_FILE_ALREADY_LOCKED"
    connection.disconnect()


def test_every_call_through_the_binding(vddk, lab, vm, tmp_path):
    wait(vm.PowerOffVM_Task())
    before = lab.inspect(VM)["disks"][0]["sha256"]
    params = _params(vddk, lab, vm)
    assert params.cleanup() == (0, 0)
    params.prepare_for_access("vadp.vsphere binding test")
    connection = params.connect(transports="nbdssl:nbd")
    opened = []
    worker = threading.Thread(target=lambda: opened.append(connection.open(_leaf(vm))))  # any thread may open
    worker.start()
    worker.join()
    [disk] = opened
    assert disk.transport_mode == "nbdssl"
    info = disk.info()
    assert info["links"] == 1 and info["logical_sector_size"] == 512 and info["uuid"]

    data = os.urandom(64 * 1024)
    disk.write(4096, data)
    for i in range(8):
        disk.write_async(8192 + 128 * i, os.urandom(64 * 1024))
    disk.wait()
    back = bytearray(64 * 1024)
    disk.read_async(4096, _buffer(back))
    disk.wait()
    assert bytes(back) == data
    disk.write_async(info["capacity_sectors"], bytes(4096))  # beyond the end: the error comes back in wait()
    with pytest.raises(VddkError) as caught:
        disk.wait()
    assert caught.value.name == "VIX_E_DISK_OUTOFRANGE" and caught.value.function == "VixDiskLib_WriteAsync"

    assert "adapterType" in disk.metadata_keys()
    disk.write_metadata("toolsVersion", "12352")
    assert disk.read_metadata("toolsVersion") == "12352"
    blocks = disk.allocated_blocks(chunk_sectors=128)
    assert any(start <= 4096 < start + n for start, n in blocks)
    disk.flush()
    disk.close()

    # direct I/O wants 4 KiB alignment for speed; unaligned I/O still works (nbdkit never aligns) and is reported
    direct = connection.open(_leaf(vm), unbuffered=True)
    unaligned = bytearray(b"u" * 4096)
    direct.write(1, _buffer(unaligned), 8)
    back = bytearray(4096)
    direct.read(1, _buffer(back), 8)
    assert back == unaligned
    assert any("unaligned direct I/O" in line for line in vddk.recent_log)
    direct.close()

    read_only = connection.open(_leaf(vm), read_only=True)
    with pytest.raises(VddkError) as caught:
        read_only.write(0, bytes(512))
    assert caught.value.name == "VIX_E_FILE_READ_ONLY"
    read_only.close()
    connection.disconnect()
    params.end_access("vadp.vsphere binding test")
    params.free()
    assert lab.inspect(VM)["disks"][0]["sha256"] != before

    local = vddk.connect_params().connect(transports="file")
    local.create(str(tmp_path / "local.vmdk"), 2048)
    created = local.open(str(tmp_path / "local.vmdk"))
    assert created.info()["capacity_sectors"] == 2048 and created.transport_mode == "file"
    created.close()
    local.disconnect()
    assert "file:san:hotadd:nbdssl:nbd" == vddk.transport_modes()
    assert any("opened" in line for line in vddk.recent_log)  # VDDK's log reaches Python


def _buffer(data):
    import ctypes
    return (ctypes.c_char * len(data)).from_buffer(data)


def test_allocation_of_a_disk_whose_last_chunk_is_partial(vddk, tmp_path):
    """VDDK answers whole chunks: the binding queries up to the end of the last, partial chunk
    and clips the answer at the capacity, so data in a disk's tail is never left out."""
    capacity = 2048 + 64  # 1 MiB + 32 KiB: the last 64 KiB chunk is half outside the disk
    local = vddk.connect_params().connect(transports="file")
    local.create(str(tmp_path / "odd.vmdk"), capacity)
    disk = local.open(str(tmp_path / "odd.vmdk"))
    disk.write(capacity - 8, _buffer(bytearray(b"t" * 4096)), 8)
    disk.flush()
    blocks = disk.allocated_blocks(chunk_sectors=128)
    assert blocks == [(2048, 64)]  # the tail's chunk, clipped at the capacity
    disk.close()
    local.disconnect()
