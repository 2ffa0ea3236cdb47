"""restore_point_datastore: a point served as an NFS datastore folder (nbdkit, a qcow2 overlay
through qemu-nbd, nbdfuse, NFS-Ganesha), read and written by a real NFS client (libnfs) over
NFSv4 on loopback, on points lab VMs' backups made."""
import hashlib
import os
import signal
import socket

import pytest
from pyVim.connect import Disconnect

from conftest import create_vm, destroy_vm, run_module, wait
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
            wait(machine.PowerOnVM_Task())
            lab.guest_write(vm, offset=0, length=2 * MIB, seed=700 + i)
            lab.guest_write(vm, offset=40 * MIB, length=3 * MIB, seed=710 + i)
            backup = run_module("vadp.vsphere.vm_backup", {"name": vm, "repository": repo})
            assert not backup.get("failed"), backup
            found[vm] = (repo, backup["point_id"], lab.inspect(vm)["disks"][0]["sha256"])
        yield found
    finally:
        for machine in machines:
            destroy_vm(machine)
        Disconnect(si)


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
        os.kill(second["disks"][0]["qemu_nbd_pid"], signal.SIGKILL)
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
    missing = datastore(folder, repository=repo, vm="no-such-vm")
    assert missing["failed"] and missing["error_code"] == "POINT_NOT_FOUND", missing
    assert not (folder / ("vadp-" + point_id)).exists() and chain_processes(folder) == []
