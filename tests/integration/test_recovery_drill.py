"""Recovery drills on the lab: points recovered as temporary VMs on the isolated port group, booted
(the lab's guest boots only from a bootable disk), checked, deleted; the report a person reads."""
import json
import os
import signal
import subprocess

import pytest
from pyVim.connect import Disconnect
from pyVmomi import vim

from conftest import ROOT, VddkHold, create_vm, destroy_vm, destroy_vms, find_vm_by_name, run_module, wait
from test_instant_recovery import chain_processes

GOOD, UNBOOTABLE = "drill-good", "drill-noboot"
ISOLATED = "Isolated Network"
PREFIX = "vadp-drill-"


def _add_nic(machine, network="VM Network"):
    nic = vim.vm.device.VirtualVmxnet3(key=-1, backing=vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=network),
                                       addressType="generated")
    wait(machine.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="add", device=nic)])))


@pytest.fixture(scope="module")
def repository(lab, tmp_path_factory):
    """A repository with a point of a VM that boots (with a NIC on the production network) and of
    one whose guest zeroed its boot sector before the backup (it runs, but will not boot again)."""
    work = tmp_path_factory.mktemp("drill")
    zeros = work / "zeros"
    zeros.write_bytes(bytes(512))
    si = lab.connect()
    machines = [create_vm(si, GOOD, [8]), create_vm(si, UNBOOTABLE, [8])]
    _add_nic(machines[0])
    repo = str(work / "repo")
    try:
        for machine in machines:
            wait(machine.PowerOnVM_Task())
        lab.guest_write(GOOD, offset=1 << 20, length=1 << 20, seed=5)
        lab.guest_write(UNBOOTABLE, offset=0, source=str(zeros))
        for name in (GOOD, UNBOOTABLE):
            backup = run_module("vadp.vsphere.vm_backup", {"name": name, "repository": repo})
            assert not backup.get("failed"), backup
        yield repo
    finally:
        for machine in machines:
            destroy_vm(machine)
        destroy_vms(si, PREFIX + GOOD, PREFIX + UNBOOTABLE)
        Disconnect(si)


def _kill_tree(pid):
    """SIGKILL a process and every descendant (ansible's workers run in sessions of their own), as
    a cancelled job's whole tree dies."""
    tree, i = [pid], 0
    while i < len(tree):
        try:
            with open("/proc/%d/task/%d/children" % (tree[i], tree[i])) as f:
                tree += [int(c) for c in f.read().split()]
        except OSError:
            pass
        i += 1
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def drill(repo, check_mode=False, **args):
    return run_module("vadp.vsphere.recovery_drill", dict(dict(repository=repo, network=ISOLATED, host="DC0_H0"), **args),
                      check_mode=check_mode)


def drill_vms(si):
    return find_vm_by_name(si, PREFIX + GOOD) + find_vm_by_name(si, PREFIX + UNBOOTABLE)


def test_a_point_that_cannot_boot_fails_its_drill_and_the_other_vm_still_passes(repository, si, tmp_path):
    planned = drill(repository, check_mode=True, vms=[GOOD, UNBOOTABLE])
    assert [d["verdict"] for d in planned["drills"]] == ["planned", "planned"] and drill_vms(si) == []
    result = drill(repository, vms=[GOOD, UNBOOTABLE], parallel=2, boot_timeout=1, report_dir=str(tmp_path / "reports"))
    assert result["failed"] and result["error_code"] == "DRILL_FAILED" and result["failed_vms"] == [UNBOOTABLE], result
    good, bad = result["drills"]
    assert good["verdict"] == "passed" and good["ip"].startswith("127.") and good["recovery_seconds"] > 0
    assert good["point_age_seconds"] >= 0 and set(good["phases"]) == {"create_seconds", "restore_seconds", "boot_seconds"}
    assert bad["verdict"] == "failed" and bad["reason"] == "no heartbeat within 1 s" and bad["ip"] is None
    assert good["cleaned_up"] and bad["cleaned_up"] and drill_vms(si) == []
    assert result["summary"][0].startswith(GOOD + ": passed") and "no heartbeat within 1 s" in result["summary"][1]
    with open(result["report"]["json"]) as f:
        report = json.load(f)
    assert [(d["vm"], d["verdict"]) for d in report["drills"]] == [(GOOD, "passed"), (UNBOOTABLE, "failed")]
    assert report["passed"] == 1 and os.path.exists(result["report"]["html"])


def test_a_nic_mapped_outside_the_isolated_network_stops_the_drill_before_anything_is_made(repository, si):
    refused = drill(repository, vms=[GOOD], network_map={"VM Network": "VM Network"})
    assert refused["failed"] and refused["error_code"] == "NETWORK_NOT_ISOLATED", refused
    assert "VM Network" in refused["msg"] and drill_vms(si) == []


def test_a_port_group_with_uplinks_or_a_vm_listed_twice_stops_the_drill_before_anything_is_made(repository, si):
    uplinked = drill(repository, vms=[GOOD], network="VM Network")  # the lab's vSwitch0 has a physical NIC
    assert uplinked["failed"] and uplinked["error_code"] == "NETWORK_NOT_ISOLATED", uplinked
    assert "physical uplinks" in uplinked["msg"] and drill_vms(si) == []
    twice = drill(repository, vms=[GOOD, UNBOOTABLE, GOOD])
    assert twice["failed"] and twice["error_code"] == "INVALID_ARGUMENT" and GOOD in twice["msg"], twice
    assert drill_vms(si) == []


def test_a_kept_drill_vm_is_on_the_isolated_network_only_and_the_next_drill_removes_it(repository, si):
    kept = drill(repository, vms=[GOOD], keep=True)
    assert not kept.get("failed") and kept["drills"][0]["cleaned_up"] is False, kept
    [machine] = find_vm_by_name(si, PREFIX + GOOD)
    nics = [d for d in machine.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    assert [n.backing.deviceName for n in nics] == [ISOLATED] and machine.runtime.powerState == "poweredOn"
    again = drill(repository, vms=[GOOD])
    assert again["leftovers_removed"] == [PREFIX + GOOD] and again["drills"][0]["verdict"] == "passed", again
    assert drill_vms(si) == []


def test_an_instant_drill_boots_each_point_where_it_is_and_leaves_nothing_served(repository, si, tmp_path):
    """Nothing copied: each point served as an NFS datastore, the drill VM run from it; a kept one is
    unregistered (its disks are the served files) by the next drill, which releases its datastore."""
    folder = str(tmp_path / "datastores")
    kept = drill(repository, vms=[GOOD], mode="instant", keep=True, datastores_dir=folder)
    assert not kept.get("failed") and kept["drills"][0]["verdict"] == "passed", kept.get("msg")
    [machine] = find_vm_by_name(si, PREFIX + GOOD)
    assert [d.name for d in machine.datastore] == ["vadp-" + PREFIX + GOOD]
    result = drill(repository, vms=[GOOD, UNBOOTABLE], mode="instant", parallel=2, boot_timeout=1, datastores_dir=folder)
    assert result["failed_vms"] == [UNBOOTABLE] and result["leftovers_removed"] == [PREFIX + GOOD], result
    good, bad = result["drills"]
    assert good["verdict"] == "passed" and good["ip"].startswith("127.") and set(good["phases"]) == {"create_seconds", "boot_seconds"}
    assert bad["reason"] == "no heartbeat within 1 s" and good["cleaned_up"] and bad["cleaned_up"]
    assert drill_vms(si) == [] and not [d for d in si.content.rootFolder.childEntity[0].datastore if d.name.startswith("vadp-")]
    assert [n for n in os.listdir(folder) if not n.startswith(".")] == [] and chain_processes(folder) == []
    assert run_module("vadp.vsphere.restore_point_info", {"repository": repository, "verify": "deep"})["verified_ok"]


@pytest.mark.watches_transfer
def test_a_drill_killed_mid_way_leaves_a_vm_the_next_drill_removes_first(repository, si, tmp_path):
    hold = VddkHold(tmp_path, at=1)  # the first write into the drill VM's disk waits for the test
    process = subprocess.Popen(
        ["ansible-playbook", os.path.join(ROOT, "playbooks", "recovery_drill.yml"), "-e", json.dumps(
            {"recovery_drill_vms": [GOOD], "recovery_drill_repository": repository, "recovery_drill_network": ISOLATED,
             "recovery_drill_host": "DC0_H0"})],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, **hold.env), cwd=ROOT)
    try:
        hold.wait_until_held()
        assert len(find_vm_by_name(si, PREFIX + GOOD)) == 1
    finally:
        _kill_tree(process.pid)  # the job is killed: ansible, its worker, the module, its transfer
        process.wait()
        hold.release()
    again = drill(repository, vms=[GOOD])
    assert again["leftovers_removed"] == [PREFIX + GOOD] and again["drills"][0]["verdict"] == "passed", again
    assert drill_vms(si) == []


def test_the_role_prints_a_line_per_vm_and_fails_with_the_failed_ones(repository, tmp_path):
    from conftest import play
    code, output = play("recovery_drill.yml", recovery_drill_vms=[GOOD, UNBOOTABLE], recovery_drill_repository=repository,
                        recovery_drill_network=ISOLATED, recovery_drill_host="DC0_H0", recovery_drill_boot_timeout=1,
                        recovery_drill_report_dir=str(tmp_path / "reports"))
    assert code != 0, output
    assert GOOD + ": passed" in output and UNBOOTABLE + ": FAILED - no heartbeat within 1 s" in output
    assert "Recovery drill report: " + str(tmp_path / "reports") in output
    assert "recovery drill failed for " + UNBOOTABLE in output


def test_a_vm_recovered_for_use_under_a_drill_name_is_never_removed(repository, si):
    """A VM disaster recovery made carries the recovery mark, as drill VMs do; only a drill's own
    mark makes a VM a drill's leftover. One named as the drill would name its VM stays, and that
    VM's drill fails instead of replacing it."""
    recovered = run_module("vadp.vsphere.vm_create_from_configinfo", {
        "name": PREFIX + GOOD, "repository": repository, "source_vm": GOOD, "host": "DC0_H0", "datastore": "LocalDS_0",
        "network": ISOLATED})
    assert recovered["created"], recovered
    try:
        [machine] = find_vm_by_name(si, PREFIX + GOOD)
        wait(machine.PowerOnVM_Task())  # in use
        result = drill(repository, vms=[GOOD])
        assert result["failed"] and result["leftovers_removed"] == [], result
        assert result["drills"][0]["verdict"] == "failed" and "VM_EXISTS" in result["drills"][0]["reason"], result
        assert [m._moId for m in find_vm_by_name(si, PREFIX + GOOD)] == [machine._moId]
        assert machine.runtime.powerState == "poweredOn"
    finally:
        destroy_vms(si, PREFIX + GOOD)


SERVES = "drill-serves"


def test_the_tcp_check_meets_the_recovered_guests_own_listener_or_fails_naming_the_port(lab, si, tmp_path):
    """The lab's guest serves the ports its disk names (sector 3, "VADPLAB-LISTEN ..."), on the
    loopback address its Tools report: a point of a guest that serves 2222 passes a check of 2222
    in its drill, and a check of a port it does not serve fails the drill, naming the address and
    port, with the drill VM deleted all the same."""
    services = tmp_path / "services"
    services.write_bytes(b"VADPLAB-LISTEN 2222\n".ljust(512, b"\0"))
    destroy_vms(si, SERVES, PREFIX + SERVES)
    machine = create_vm(si, SERVES, [8])
    _add_nic(machine, ISOLATED)
    repo = str(tmp_path / "repo")
    try:
        wait(machine.PowerOnVM_Task())
        lab.guest_write(SERVES, offset=3 * 512, source=str(services))
        assert not run_module("vadp.vsphere.vm_backup", {"name": SERVES, "repository": repo}).get("failed")
        passed = drill(repo, vms=[SERVES], tcp_ports=[2222], boot_timeout=60)
        assert not passed.get("failed"), passed
        [record] = passed["drills"]
        assert record["verdict"] == "passed" and record["ip"].startswith("127.")
        assert record["checks"] == [{"check": "tcp/2222", "ok": True, "detail": "%s:2222 answered" % record["ip"]}]
        failed = drill(repo, vms=[SERVES], tcp_ports=[2222, 2223], check_timeout=1, boot_timeout=60)
        assert failed["error_code"] == "DRILL_FAILED", failed
        [record] = failed["drills"]
        assert [c["ok"] for c in record["checks"]] == [True, False] and "%s:2223 did not answer" % record["ip"] in record["reason"]
        assert record["cleaned_up"] and find_vm_by_name(si, PREFIX + SERVES) == []
    finally:
        destroy_vm(machine)
        destroy_vms(si, PREFIX + SERVES)
