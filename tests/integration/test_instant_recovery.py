"""Instant recovery. restore_point_datastore: a point served as an NFS datastore folder (nbdkit, a
qcow2 overlay through qemu-nbd, nbdfuse, NFS-Ganesha), read and written by a real NFS client
(libnfs) over NFSv4 on loopback; the lab's hosts mount it the same way. instant_recovery: a VM
running from it, moved to production storage while it runs, or discarded. On points lab VMs'
backups made."""
import hashlib
import json
import os
import re
import signal
import socket
import threading
import time

import pytest
from pyVim.connect import Disconnect
from pyVmomi import vim

from conftest import create_vm, destroy_vm, destroy_vms, find_vm_by_name, play, run_module, wait, wait_for
from nfs_client import NfsError, NfsMount

MIB = 1 << 20
VMS = ("nfs-ds-a", "nfs-ds-b")


@pytest.fixture(scope="module")
def points(lab, tmp_path_factory):
    """{vm: (repository, point id, the disk's SHA-256 at backup time)} for two VMs of one repository."""
    repo = str(tmp_path_factory.mktemp("datastore") / "repo")
    si = lab.connect()
    machines = [create_vm(si, vm, [48]) for vm in VMS]
    try:
        found = {}
        for i, (vm, machine) in enumerate(zip(VMS, machines)):
            wait(machine.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
                operation="add", device=nic())])))  # a guest with a network card reports an IP
            wait(machine.PowerOnVM_Task())
            lab.guest_write(vm, offset=MIB, length=2 * MIB, seed=700 + i)  # after the boot sector: the VMs boot
            lab.guest_write(vm, offset=40 * MIB, length=3 * MIB, seed=710 + i)
            backup = run_module("vadp.vsphere.vm_backup", {"name": vm, "repository": repo})
            assert not backup.get("failed"), backup
            found[vm] = (repo, backup["point_id"], lab.inspect(vm)["disks"][0]["sha256"])
        yield found
    finally:
        for machine in machines:
            destroy_vm(machine)
        Disconnect(si)


def nic():
    return vim.vm.device.VirtualVmxnet3(key=-102, backing=vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName="VM Network"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def datastore(datastores_dir, check_mode=False, **args):
    return run_module("vadp.vsphere.restore_point_datastore", dict(datastores_dir=str(datastores_dir), **args),
                      check_mode=check_mode)


def flat_path(served, disk=0):
    """The served disk's extent, as the descriptor names it, below the datastore's root."""
    descriptor = served["disks"][disk]["descriptor"]
    return os.path.join(os.path.dirname(descriptor), served["disks"][disk]["base"] + ".data",
                        served["disks"][disk]["base"] + "-flat.vmdk")


def nfs_sha(mount, path, size):
    digest = hashlib.sha256()
    for offset in range(0, size, 8 * MIB):
        digest.update(mount.read("/" + path, offset, min(8 * MIB, size - offset)))
    return digest.hexdigest()


def chain_processes(datastores_dir):
    """The pids of processes whose command line names the datastores folder (the whole chain does)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if str(datastores_dir).encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def kill(pid):
    """SIGKILL pid and return once it is gone (a zombie has no command line): the kill is the
    event the test waits for."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60  # a bound for a process that never ends, not a wait for it
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if not f.read():
                    return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    raise AssertionError("pid %d outlived SIGKILL" % pid)


def test_a_point_served_over_nfs_reads_as_the_point_and_its_writes_stay_in_the_overlay(points, tmp_path):
    repo, point_id, expected = points[VMS[0]]
    folder, port = tmp_path / "ds", free_port()
    preview = datastore(folder, check_mode=True, repository=repo, vm=VMS[0], nfs_port=port)
    assert preview["changed"] and not preview.get("failed") and not folder.exists(), preview
    started = datastore(folder, repository=repo, vm=VMS[0], nfs_port=port)
    assert started["changed"] and not started.get("failed"), started
    served = started["datastore"]
    assert (served["point"], served["remote_host"], served["remote_path"], served["health"]) == (
        point_id, "127.0.0.1", "/vadp/vadp-%s" % point_id, [])
    disk = served["disks"][0]
    assert disk["capacity_bytes"] == 48 * MIB
    try:
        with NfsMount("127.0.0.1", served["remote_path"], port) as nfs:
            descriptor = nfs.read("/" + disk["descriptor"], 0, 4096).decode()
            assert 'createType="vmfs"' in descriptor
            assert 'RW %d VMFS "%s.data/%s-flat.vmdk"' % (48 * MIB // 512, disk["base"], disk["base"]) in descriptor
            assert nfs_sha(nfs, flat_path(served), 48 * MIB) == expected
            written = os.urandom(MIB)
            nfs.write("/" + flat_path(served), 10 * MIB + 512, written)
            assert nfs.read("/" + flat_path(served), 10 * MIB + 512, MIB) == written
        again = datastore(folder, repository=repo, vm=VMS[0], nfs_port=port)
        assert again["changed"] is False and again["datastore"]["health"] == [], again
        assert os.path.getsize(disk["overlay"]) >= MIB  # the write is in the overlay file
    finally:
        stopped = datastore(folder, name=served["name"], state="stopped")
    assert stopped["changed"] and stopped["datastores"] == [], stopped
    checked = run_module("vadp.vsphere.restore_point_info", {"repository": repo, "verify": "deep"})
    assert checked["verified_ok"] is True, checked
    # nothing left: no folder, no process, no mount, no server
    assert not (folder / served["name"]).exists() and chain_processes(folder) == []
    with open("/proc/mounts") as mounts:
        assert str(folder) not in mounts.read()
    with pytest.raises(NfsError):
        NfsMount("127.0.0.1", served["remote_path"], port)
    assert datastore(folder, name=served["name"], state="stopped")["changed"] is False


def test_two_points_are_served_at_once_and_a_stopped_chain_is_served_again_with_its_writes(points, tmp_path):
    folder, port = tmp_path / "ds", free_port()
    served = {}
    try:
        for vm in VMS:
            repo, point_id, _sha = points[vm]
            started = datastore(folder, repository=repo, vm=vm, nfs_port=port)
            assert started["changed"] and not started.get("failed"), started
            served[vm] = started["datastore"]
        first, second = (served[vm] for vm in VMS)
        with NfsMount("127.0.0.1", second["remote_path"], port) as nfs:
            nfs.write("/" + flat_path(second), 0, b"second VM's write".ljust(4096, b"."))
        # the overlay server of the second dies: the datastore is reported unhealthy, the first is not
        kill(second["disks"][0]["qemu_nbd_pid"])
        kept = datastore(folder, repository=points[VMS[0]][0], vm=VMS[0], nfs_port=port)
        listed = {d["name"]: d["health"] for d in kept["datastores"]}
        assert listed[first["name"]] == []
        assert any("qemu-nbd" in problem for problem in listed[second["name"]]), listed
        # started again: served with the overlay it had, so the VM's write is still there
        again = datastore(folder, repository=points[VMS[1]][0], vm=VMS[1], nfs_port=port)
        assert again["changed"] and again["datastore"]["health"] == [], again
        with NfsMount("127.0.0.1", second["remote_path"], port) as nfs:
            assert nfs.read("/" + flat_path(second), 0, 17) == b"second VM's write"
        # stopping one leaves the other served
        datastore(folder, name=second["name"], state="stopped")
        with NfsMount("127.0.0.1", first["remote_path"], port) as nfs:
            assert nfs_sha(nfs, flat_path(first), 48 * MIB) == points[VMS[0]][2]
    finally:
        for record in served.values():
            datastore(folder, name=record["name"], state="stopped")
    assert chain_processes(folder) == []


def test_bad_requests_fail_before_anything_starts(points, tmp_path):
    repo, point_id, _sha = points[VMS[0]]
    folder = tmp_path / "ds"
    reachable = datastore(folder, repository=repo, vm=VMS[0], nfs_address="192.0.2.10")
    assert reachable["failed"] and reachable["error_code"] == "NFS_CLIENTS_REQUIRED", reachable
    wrong = datastore(folder, repository=repo, vm=VMS[0], nfs_clients=["esxi-01"])
    assert wrong["failed"] and wrong["error_code"] == "NFS_CLIENTS_REQUIRED", wrong
    quoted = datastore(folder, repository=repo, vm=VMS[0], name='web"; EXPORT {')  # it would end a value in Ganesha's config
    assert quoted["failed"] and quoted["error_code"] == "INVALID_ARGUMENT", quoted
    missing = datastore(folder, repository=repo, vm="no-such-vm")
    assert missing["failed"] and missing["error_code"] == "POINT_NOT_FOUND", missing
    assert not (folder / ("vadp-" + point_id)).exists() and chain_processes(folder) == []


def mount_nas(si, served, name):
    """The served datastore mounted on DC0_H0 as an NFS 4.1 datastore, as a user would mount it."""
    [host] = [h for h in si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim.HostSystem], True).view
              if h.name == "DC0_H0"]
    spec = vim.host.NasVolume.Specification(remoteHost=served["remote_host"], remotePath=served["remote_path"], localPath=name,
                                            accessMode="readWrite", type="NFS41")
    return host, host.configManager.datastoreSystem.CreateNasDatastore(spec)


def register_on(si, datastore, served, name):
    """A VM whose disk is the served descriptor, attached as it is (no new disk), on DC0_H0."""
    [template] = find_vm_by_name(si, "DC0_H0_VM0")
    disk = vim.vm.device.VirtualDisk(key=-101, controllerKey=-100, unitNumber=0, capacityInKB=served["disks"][0]["capacity_bytes"] // 1024,
                                     backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                                         fileName="[%s] %s" % (datastore.name, served["disks"][0]["descriptor"]), diskMode="persistent"))
    spec = vim.vm.ConfigSpec(name=name, guestId="otherGuest", numCPUs=1, memoryMB=64,
                             files=vim.vm.FileInfo(vmPathName="[%s]" % datastore.name), deviceChange=[
                                 vim.vm.device.VirtualDeviceSpec(operation="add", device=vim.vm.device.ParaVirtualSCSIController(
                                     key=-100, busNumber=0, sharedBus="noSharing")),
                                 vim.vm.device.VirtualDeviceSpec(operation="add", device=disk),
                                 vim.vm.device.VirtualDeviceSpec(operation="add", device=nic())])
    return wait(template.parent.CreateVM_Task(spec, template.resourcePool, template.runtime.host))


def test_a_lab_host_mounts_the_datastore_over_nfs_and_a_vm_boots_and_writes_through_it(points, lab, tmp_path):
    """The lab's hosts reach NFS datastores through libnfs, on ESXi's port 2049: the VM boots from
    bytes that crossed NFS, and its writes land in the overlay, not in the point."""
    repo, point_id, expected = points[VMS[0]]
    folder = tmp_path / "ds"
    served = datastore(folder, repository=repo, vm=VMS[0], nfs_port=2049)["datastore"]
    si = lab.connect()
    machine = host = nas = None
    try:
        host, nas = mount_nas(si, served, "instant-a")
        assert nas.summary.accessible and nas.summary.type == "NFS41"
        machine = register_on(si, nas, served, "instant-a-vm")
        wait(machine.PowerOnVM_Task())
        assert machine.guest.toolsRunningStatus == "guestToolsRunning" and machine.guest.ipAddress
        assert lab.inspect("instant-a-vm")["disks"][0]["sha256"] == expected  # the point, read over NFS
        lab.guest_write("instant-a-vm", offset=5 * MIB, length=MIB, seed=77)
        now = lab.inspect("instant-a-vm")["disks"][0]["sha256"]
        assert now != expected
        with NfsMount("127.0.0.1", served["remote_path"], 2049) as nfs:  # another client sees the guest's write
            assert nfs_sha(nfs, flat_path(served), 48 * MIB) == now
        # the NFS server goes away under the running VM: its I/O fails and the datastore is inaccessible
        kill(served_server_pid(folder))
        with pytest.raises(AssertionError, match="HTTP 409.*NFS"):
            lab.guest_write("instant-a-vm", offset=6 * MIB, length=4096, seed=78)
        assert nas.summary.accessible is False and nas.host[0].mountInfo.accessible is False
        assert machine.guestHeartbeatStatus == "red"  # not healthy, though its Tools state was last seen running
        unhealthy = datastore(folder, name=served["name"], state="stopped", check_mode=True)
        assert any("NFS server" in p for p in unhealthy["datastore"]["health"]), unhealthy
    finally:
        if machine is not None:
            destroy_vm(machine)
        if nas is not None:
            host.configManager.datastoreSystem.RemoveDatastore(nas)
        datastore(folder, name=served["name"], state="stopped")
        Disconnect(si)
    checked = run_module("vadp.vsphere.restore_point_info", {"repository": repo, "verify": "deep"})
    assert checked["verified_ok"] is True, checked
    assert not (folder / served["name"]).exists() and chain_processes(folder) == []


def served_server_pid(folder):
    with open(folder / ".server" / "server.json") as f:
        return json.load(f)["pid"]


def instant(check_mode=False, **args):
    return run_module("vadp.vsphere.instant_recovery", args, check_mode=check_mode)


def test_instant_recovery_runs_the_vm_from_its_point_and_a_discard_leaves_nothing(points, lab, tmp_path):
    repo, point_id, expected = points[VMS[1]]
    folder = str(tmp_path / "ds")
    args = dict(name="instant-b", repository=repo, source_vm=VMS[1], host="DC0_H0", datastores_dir=folder)
    si = lab.connect()
    try:
        preview = instant(check_mode=True, **args)
        assert preview["changed"] and not preview.get("failed") and find_vm_by_name(si, "instant-b") == [], preview
        started = instant(**args)
        assert started["changed"] and not started.get("failed"), started
        assert started["ip_address"] and started["datastore"]["vcenter_name"] == "vadp-instant-b"
        [machine] = find_vm_by_name(si, "instant-b")
        assert machine.runtime.powerState == "poweredOn" and machine.guest.toolsRunningStatus == "guestToolsRunning"
        [disk] = [d for d in machine.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
        assert disk.backing.fileName == "[vadp-instant-b] %s" % started["datastore"]["disks"][0]["descriptor"]
        assert lab.inspect("instant-b")["disks"][0]["sha256"] == expected  # the point's bytes, over NFS
        again = instant(**args)
        assert again["changed"] is False and again["steps"] == [], again
        lab.guest_write("instant-b", offset=7 * MIB, length=MIB, seed=91)
        assert lab.inspect("instant-b")["disks"][0]["sha256"] != expected
    finally:
        discarded = instant(name="instant-b", state="absent", datastores_dir=folder)
    assert discarded["changed"] and not discarded.get("failed"), discarded
    assert len(discarded["steps"]) == 3, discarded
    # nothing left: no VM, no datastore in vCenter, nothing served, no process, and the point as it was
    assert find_vm_by_name(si, "instant-b") == []
    assert "vadp-instant-b" not in [d.name for d in si.content.rootFolder.childEntity[0].datastore]
    assert not (tmp_path / "ds" / "vadp-instant-b").exists() and chain_processes(tmp_path / "ds") == []
    assert instant(name="instant-b", state="absent", datastores_dir=folder)["changed"] is False
    checked = run_module("vadp.vsphere.restore_point_info", {"repository": repo, "verify": "deep"})
    assert checked["verified_ok"] is True, checked
    Disconnect(si)


def test_a_running_vm_moves_to_production_storage_with_every_write_it_made(points, lab, tmp_path):
    """A failed move leaves the VM running from the point with its writes; then a move held by the lab
    after its first pass, while the guest writes, ends with the disk on LocalDS_0 holding exactly
    what the guest saw, and the point released."""
    repo, _point_id, expected = points[VMS[0]]
    folder, hold = str(tmp_path / "ds"), str(tmp_path / "move-hold")
    original = lab.inspect(VMS[0])["disks"][0]
    si = lab.connect()
    try:
        started = instant(name="instant-a", repository=repo, source_vm=VMS[0], host="DC0_H0", datastores_dir=folder)
        assert not started.get("failed"), started
        lab.guest_write("instant-a", offset=5 * MIB, length=MIB, seed=81)
        lab.control("/faults", {"tasks": [{"method": "RelocateVM_Task", "fault": "FileFault", "message": "no space", "times": 1}]})
        failed = instant(name="instant-a", state="moved", datastore="LocalDS_0", datastores_dir=folder)
        assert failed["failed"] and failed["error_code"] == "MOVE_FAILED", failed
        assert "keeps running from datastore vadp-instant-a" in failed["msg"] and "no space" in failed["msg"]
        [machine] = find_vm_by_name(si, "instant-a")
        assert [d.name for d in machine.datastore] == ["vadp-instant-a"] and machine.runtime.powerState == "poweredOn"
        assert (tmp_path / "ds" / "vadp-instant-a").exists()

        lab.control("/faults", {"tasks": [{"method": "RelocateVM_Task", "hold_file": hold, "times": 1}]})
        result = {}
        mover = threading.Thread(target=lambda: result.update(instant(
            name="instant-a", state="moved", datastore="LocalDS_0", datastores_dir=folder)))
        mover.start()
        try:
            wait_for(lambda: os.path.exists(hold + ".held"), 300, "the move's first pass to end")
            lab.guest_write("instant-a", offset=20 * MIB, length=2 * MIB, seed=82)  # after the first pass copied it
            seen = lab.inspect("instant-a")["disks"][0]["sha256"]  # what the guest sees, read over NFS
        finally:
            open(hold, "w").close()
            mover.join()
        assert result["changed"] and not result.get("failed") and result["move_seconds"] is not None, result
        assert seen != expected
        [disk] = [d for d in machine.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
        assert disk.backing.fileName.startswith("[LocalDS_0] ") and disk.backing.fileName != original["file"]
        assert [d.name for d in machine.datastore] == ["LocalDS_0"] and machine.runtime.powerState == "poweredOn"
        assert lab.inspect("instant-a")["disks"][0]["sha256"] == seen  # the point plus exactly the guest's writes
        assert lab.inspect(VMS[0])["disks"][0]["sha256"] == original["sha256"]  # the original's folder untouched
        assert "vadp-instant-a" not in [d.name for d in si.content.rootFolder.childEntity[0].datastore]
        assert not (tmp_path / "ds" / "vadp-instant-a").exists() and chain_processes(tmp_path / "ds") == []
        lab.guest_write("instant-a", offset=30 * MIB, length=MIB, seed=83)  # the guest runs on, from LocalDS_0
        assert instant(name="instant-a", state="moved", datastore="LocalDS_0", datastores_dir=folder)["changed"] is False
    finally:
        lab.control("/faults", {"tasks": []})
        for machine in find_vm_by_name(si, "instant-a"):
            if [d.name for d in machine.datastore] == ["LocalDS_0"]:  # moved: a discard would refuse it
                destroy_vm(machine)
        instant(name="instant-a", state="absent", datastores_dir=folder)
    checked = run_module("vadp.vsphere.restore_point_info", {"repository": repo, "verify": "deep"})
    assert checked["verified_ok"] is True, checked
    Disconnect(si)


def test_two_vms_run_at_once_a_killed_server_shows_red_a_rerun_heals_and_a_discard_after_a_kill_cleans_up(points, lab, tmp_path):
    folder = str(tmp_path / "ds")
    names = {"instant-x": VMS[0], "instant-y": VMS[1]}
    si = lab.connect()

    def start(name, check_mode=False):
        return instant(check_mode=check_mode, name=name, repository=points[names[name]][0], source_vm=names[name],
                       host="DC0_H0", datastores_dir=folder)
    try:
        for name in names:
            started = start(name)
            assert not started.get("failed") and started["heartbeat"] == "green", started
        assert [lab.inspect(n)["disks"][0]["sha256"] for n in names] == [points[v][2] for v in names.values()]
        lab.guest_write("instant-x", offset=9 * MIB, length=MIB, seed=95)
        written = lab.inspect("instant-x")["disks"][0]["sha256"]

        kill(served_server_pid(tmp_path / "ds"))  # one NFS server serves both
        with pytest.raises(AssertionError, match="HTTP 409.*NFS"):
            lab.guest_write("instant-x", offset=10 * MIB, length=4096, seed=96)
        seen = start("instant-x", check_mode=True)
        assert seen["heartbeat"] == "red" and seen["steps"][0].startswith("datastore served again"), seen
        assert "NFS server does not serve it" in seen["steps"][0]
        healed = start("instant-x")
        assert not healed.get("failed") and healed["heartbeat"] == "green", healed
        assert healed["steps"] == [seen["steps"][0]]  # served again; the mount, the VM and its power were there
        assert lab.inspect("instant-x")["disks"][0]["sha256"] == written  # the overlay kept the guest's write
        lab.guest_write("instant-x", offset=10 * MIB, length=4096, seed=96)

        kill(served_server_pid(tmp_path / "ds"))
    finally:
        discarded = [instant(name=name, state="absent", datastores_dir=folder) for name in names]
    assert all(d["changed"] and not d.get("failed") for d in discarded), discarded
    assert find_vm_by_name(si, "instant-x") == [] and find_vm_by_name(si, "instant-y") == []
    assert not [d for d in si.content.rootFolder.childEntity[0].datastore if d.name.startswith("vadp-instant-")]
    [host] = [h for c in si.content.rootFolder.childEntity[0].hostFolder.childEntity for h in c.host if h.name == "DC0_H0"]
    assert [d.name for d in host.datastore] == ["LocalDS_0"]  # unmounted from the host too
    assert not [n for n in os.listdir(folder) if not n.startswith(".")] and chain_processes(tmp_path / "ds") == []
    Disconnect(si)


class MoveHold:
    """Holds the lab's next move after its first pass (a task rule's hold_file) until play() sees the
    line it waits for; then the move goes on."""

    def __init__(self, lab, folder):
        self.path, self.env = str(folder / "move-hold"), {}
        lab.control("/faults", {"tasks": [{"method": "RelocateVM_Task", "hold_file": self.path, "times": 1}]})

    def release(self):
        open(self.path, "a").close()


def test_the_role_runs_the_vm_then_moves_it_home_showing_the_moves_progress(points, lab, tmp_path):
    repo, _point_id, expected = points[VMS[1]]
    folder = str(tmp_path / "ds")
    common = dict(instant_recovery_name="instant-role", instant_recovery_repository=repo, instant_recovery_source_vm=VMS[1],
                  instant_recovery_host="DC0_H0", instant_recovery_datastores_dir=folder)
    si = lab.connect()
    try:
        code, output = play("instant_recovery.yml", **common)
        assert code == 0, output
        assert "instant-role runs from point" in output and "heartbeat green" in output
        assert lab.inspect("instant-role")["disks"][0]["sha256"] == expected
        lab.guest_write("instant-role", offset=3 * MIB, length=MIB, seed=97)
        written = lab.inspect("instant-role")["disks"][0]["sha256"]
        # the move held after its first pass: the play shows it running at 90% before it ends
        code, output = play("instant_recovery.yml", hold=MoveHold(lab, tmp_path), release_when=r"localhost: running, [1-9]",
                            instant_recovery_move_to="LocalDS_0", **common)
        assert code == 0, output
        assert re.search(r"localhost: running, .*\(90%\)", output) and "instant-role runs from LocalDS_0" in output, output
        [machine] = find_vm_by_name(si, "instant-role")
        assert [d.name for d in machine.datastore] == ["LocalDS_0"]
        assert lab.inspect("instant-role")["disks"][0]["sha256"] == written
        assert not (tmp_path / "ds" / "vadp-instant-role").exists() and chain_processes(tmp_path / "ds") == []
    finally:
        lab.control("/faults", {"tasks": []})
        destroy_vms(si, "instant-role")
        instant(name="instant-role", state="absent", datastores_dir=folder)
        Disconnect(si)
