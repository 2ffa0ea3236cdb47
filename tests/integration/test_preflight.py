"""vadp.vsphere.preflight's table on the lab, each WARN and FAIL made real by the lab: an
unverified certificate (its thumbprint), vCenter's clock ten minutes ahead, an ESXi release with
CBT defects, a VM with snapshots and CBT off, an independent disk, a repository on a file system too
small for a first backup, a VM whose hardware cannot track changes, an encrypted repository without
its key, an ESXi host whose NFC port (TCP 902) is closed, no VDDK. The missing privileges are
test_privileges.py's."""
import os
import subprocess
import sys
import uuid

import pytest
from pyVmomi import vim

from conftest import create_vm, destroy_vm, destroy_vms, find_vm_by_name, mount_small_filesystem, run_module, wait

VM, OLD_VM = "lab-preflight", "lab-preflight-vmx4"


@pytest.fixture(scope="module")
def machine(module_si, lab):
    destroy_vms(module_si, VM)
    made = create_vm(module_si, VM, [4, 4])
    yield made
    destroy_vm(made)


def _checks(result):
    return [(c["check"], c["status"], c["message"]) for c in result["checks"]]


def _statuses(result):
    found = {}
    for check, status, _message in _checks(result):
        found.setdefault(check, set()).add(status)
    return found


def test_a_sound_setup_passes_and_each_warning_comes_from_what_the_lab_really_has(machine, lab, tmp_path):
    clean = run_module("vadp.vsphere.preflight", dict(name=VM, job="backup", repository=str(tmp_path / "repo")))
    assert not clean.get("failed") and clean["changed"] is False, clean
    assert _statuses(clean) == {"privileges": {"PASS"}, "tls": {"PASS"}, "clock": {"PASS"}, "vddk": {"PASS"}, "hotadd": {"PASS"},
                                "nfc": {"PASS"}, "cbt": {"WARN"}, "esxi": {"PASS"}, "repository": {"PASS"}}, _checks(clean)  # CBT is off

    host = machine.runtime.host.name
    [second] = [d for d in machine.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk) and d.unitNumber == 1]
    second.backing.diskMode = "independent_persistent"
    wait(machine.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=second)])))
    wait(machine.CreateSnapshot_Task("the user's", "", False, False))
    small = tmp_path / "small"
    mount_small_filesystem(small, size="2m")
    lab.control("/faults", {"clock_offset_seconds": 600, "hosts": {host: {"version": "6.0.0", "build": "3029758"}}})
    try:
        warned = run_module("vadp.vsphere.preflight", dict(name=VM, job="backup", repository=str(small / "repo"),
                                                           validate_certs=False))
    finally:
        lab.control("/faults", {"clock_offset_seconds": 0, "hosts": {host: {"version": "6.5.0", "build": "5969303"}}})
        subprocess.run(["umount", str(small)], check=False)
        wait(machine.RemoveAllSnapshots_Task())
    assert not warned.get("failed"), warned
    messages = {check: [m for c, s, m in _checks(warned) if c == check and s == "WARN"] for check, _s, _m in _checks(warned)}
    assert os.environ["LAB_THUMBPRINT_SHA256"] in messages["tls"][0]
    assert "vCenter's clock is 600 s ahead" in messages["clock"][0] or "599 s ahead" in messages["clock"][0], messages
    assert "KB 2136854" in messages["esxi"][0] and "build 3029758" in messages["esxi"][0]
    assert any("has snapshots" in m for m in messages["cbt"]), messages
    assert messages["disks"] and messages["disks"][0].startswith(second.deviceInfo.label + " of " + VM), messages
    assert "MiB free for a first backup of 4 MiB" in messages["repository"][0], messages


def test_each_failure_stops_the_preflight_naming_it(machine, module_si, tmp_path):
    [template] = find_vm_by_name(module_si, "DC0_H0_VM0")
    spec = vim.vm.ConfigSpec(name=OLD_VM, guestId="otherGuest", numCPUs=1, memoryMB=64, version="vmx-04",
                             files=vim.vm.FileInfo(vmPathName="[LocalDS_0]"))
    destroy_vms(module_si, OLD_VM)
    wait(template.parent.CreateVM_Task(spec, template.resourcePool, template.runtime.host))
    key = tmp_path / "key"
    key.write_text("a passphrase")
    key.chmod(0o600)
    repository = str(tmp_path / "encrypted")
    try:
        assert not run_module("vadp.vsphere.vm_backup", dict(name=VM, repository=repository,
                                                             encryption_key_file=str(key))).get("failed")
        old = run_module("vadp.vsphere.preflight", dict(name=OLD_VM, job="backup"), env={"VADP_REPOSITORY_KEY_FILE": ""})
        keyless = run_module("vadp.vsphere.preflight", dict(name=VM, job="restore", repository=repository))
    finally:
        destroy_vms(module_si, OLD_VM)
    assert old.get("failed") and old["error_code"] == "PREFLIGHT_FAILED", old
    assert [(c, s) for c, s, _m in _checks(old) if s == "FAIL"] == [("cbt", "FAIL")] and "vmx-04" in old["msg"], old
    assert keyless.get("failed") and keyless["error_code"] == "PREFLIGHT_FAILED", keyless
    [(check, message)] = [(c, m) for c, s, m in _checks(keyless) if s == "FAIL"]
    assert check == "repository" and "KEY_REQUIRED" in message, keyless
    assert machine.snapshot is None


def test_a_host_whose_nfc_port_is_closed_fails_nbd_before_the_backup_and_would_fail_it(machine, lab, tmp_path):
    host = machine.runtime.host.name
    lab.control("/faults", {"hosts": {host: {"nfc": False}}})
    try:
        refused = run_module("vadp.vsphere.preflight", dict(name=VM, job="backup", transport="nbdssl:nbd"))
        others = run_module("vadp.vsphere.preflight", dict(name=VM, job="backup"))  # HotAdd serves
        physical = run_module("vadp.vsphere.preflight", dict(name=VM, job="backup", bios_uuid=str(uuid.uuid4())))
        backup = run_module("vadp.vsphere.vm_backup", dict(name=VM, repository=str(tmp_path / "repo"), transport="nbd"))
    finally:
        lab.control("/faults", {"hosts": {host: {"nfc": True}}})
    assert refused.get("failed") and refused["error_code"] == "PREFLIGHT_FAILED", refused
    [(check, message)] = [(c, m) for c, s, m in _checks(refused) if s == "FAIL"]
    assert check == "nfc" and "does not answer on TCP 902" in message and host in message, message
    assert not others.get("failed") and {("nfc", "WARN"), ("hotadd", "PASS")} <= {(c, s) for c, s, _m in _checks(others)}, others
    assert physical.get("failed") and [(c, s) for c, s, _m in _checks(physical) if c in ("hotadd", "nfc")] == [
        ("hotadd", "WARN"), ("nfc", "FAIL")], physical  # a machine that is no VM: only NBD is left, and it is closed
    assert backup.get("failed") and "Couldn't connect to" in backup["msg"] and ":902" in backup["msg"], backup
    assert machine.snapshot is None  # the failed backup removed its snapshot


def test_without_vddk_the_preflight_fails_naming_vddk_libdir(machine):
    missing = run_module("vadp.vsphere.preflight", dict(name=VM, job="backup"), env={"VDDK_LIBDIR": ""})
    assert missing.get("failed") and [(c, s) for c, s, _m in _checks(missing) if s == "FAIL"] == [("vddk", "FAIL")]
    assert "VDDK_LIBDIR" in missing["msg"]


def test_a_stale_lease_and_a_prune_holding_the_repository_are_warned_of(machine, tmp_path):
    """A backup killed while it held its lease leaves it behind (a process that is gone); a prune
    holding the repository makes the job wait."""
    repository = str(tmp_path / "repo")
    assert not run_module("vadp.vsphere.vm_backup", dict(name=VM, repository=repository)).get("failed")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LEASE, repository, "exclusive"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = run_module("vadp.vsphere.preflight", dict(name=VM, job="backup", repository=repository))
    finally:
        holder.kill()
        holder.wait()
    left = run_module("vadp.vsphere.preflight", dict(name=VM, job="backup", repository=repository))
    assert [m for c, s, m in _checks(busy) if c == "leases"] and "held now by prune" in _checks(busy)[-1][2], _checks(busy)
    assert any(c == "leases" and s == "WARN" and "stale lease" in m for c, s, m in _checks(left)), _checks(left)


HOLD_LEASE = """
import sys
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
with Repository(sys.argv[1]).lease(sys.argv[2], "prune"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_hotadd_is_checked_as_vddk_finds_its_proxy_and_a_machine_that_is_no_vm_would_fail_it(machine, lab, tmp_path):
    """VDDK's HotAdd finds the VM this machine is by its BIOS UUID (the lab's is its proxy VM,
    VADP_BIOS_UUID): the same UUID with its first fields byte-swapped, as older guests report it, is
    found too; the VM whose disks are read cannot be its own proxy; and from a machine that is no
    VM, a HotAdd-only backup fails as the preflight said, before any snapshot."""
    proxy = uuid.UUID(os.environ["VADP_BIOS_UUID"])
    swapped = run_module("vadp.vsphere.preflight", dict(name=VM, job="backup", transport="hotadd",
                                                        bios_uuid=str(uuid.UUID(bytes=proxy.bytes_le))))
    itself = run_module("vadp.vsphere.preflight", dict(name=VM, job="backup", transport="hotadd",
                                                       bios_uuid=machine.config.uuid))
    stranger = str(uuid.uuid4())
    lab.control("/faults", {"this_machine": ""})
    try:
        physical = run_module("vadp.vsphere.preflight", dict(name=VM, job="backup", transport="hotadd", bios_uuid=stranger))
        backup = run_module("vadp.vsphere.vm_backup", dict(name=VM, repository=str(tmp_path / "repo"), transport="hotadd"))
    finally:
        lab.control("/faults", {"this_machine": "vadp-proxy"})
    assert ("hotadd", "PASS") in [(c, s) for c, s, _m in _checks(swapped)], swapped
    [(check, message)] = [(c, m) for c, s, m in _checks(itself) if s == "FAIL"]
    assert check == "hotadd" and "cannot attach a VM's disks to itself" in message, itself
    [(check, message)] = [(c, m) for c, s, m in _checks(physical) if s == "FAIL"]
    assert check == "hotadd" and stranger in message and "is not a VM of this vCenter" in message, physical
    assert backup.get("failed") and "not a virtual machine" in backup["msg"], backup
    assert machine.snapshot is None
