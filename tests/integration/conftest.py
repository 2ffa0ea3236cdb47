"""Integration tests: modules, roles and playbooks run for real against the lab (modules in the
test's process through Ansible's module contract, roles and playbooks through ansible-playbook).

Run them with `make integration` (or `tests/lab/lab run -- pytest tests/integration`), which
starts the lab and exports its VMWARE_* and LAB_* variables.
"""
import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from pyVim.connect import Disconnect, SmartConnect  # noqa: E402
from pyVmomi import vim  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository  # noqa: E402
# The suite's two ways to run a module; the tests import them from here.
from modules import run_module, run_task  # noqa: E402,F401 pylint: disable=unused-import


@pytest.fixture(scope="session")
def lab():
    if "LAB_CONTROL_URL" not in os.environ:
        pytest.exit("the lab is not running: use `make integration` or `tests/lab/lab run -- pytest ...`", 2)
    return LabAccess()


class LabAccess:
    """The lab as a test sees it: its settings, its control endpoint, and plain pyVmomi access
    that shares no code with the collection (an independent witness)."""

    def __init__(self):
        env = os.environ
        self.host, self.port = env["VMWARE_HOST"], int(env["VMWARE_PORT"])
        self.user, self.password = env["VMWARE_USER"], env["VMWARE_PASSWORD"]
        self.ca_file = env["VMWARE_CA_BUNDLE"]
        self.thumbprint_sha1, self.thumbprint_sha256 = env["LAB_THUMBPRINT_SHA1"], env["LAB_THUMBPRINT_SHA256"]
        self._ssl = ssl.create_default_context(cafile=self.ca_file)

    def control(self, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(os.environ["LAB_CONTROL_URL"] + path, data=data,
                                         method="POST" if data else "GET")
        try:
            with urllib.request.urlopen(request, context=self._ssl) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:  # the lab says why in the body
            raise AssertionError("lab %s: HTTP %s: %s" % (path, exc.code, exc.read().decode(errors="replace")))

    def guest_write(self, vm, offset, length=0, seed=1, device_key=0, source="", pattern=""):
        """Pseudo-random data (length bytes from seed; pattern "text": log lines), or the bytes of the local file source."""
        return self.control("/guest-write", {"vm": vm, "offset": offset, "length": length, "seed": seed,
                                             "device_key": device_key, "source": source, "pattern": pattern})

    def configure_vm(self, vm, **options):
        """Lab options for one VM: question, tools_installed, leave_delta_on_next_remove."""
        return self.control("/faults", {"vms": {vm: options}})

    def inspect(self, vm):
        return self.control("/inspect?vm=" + vm)

    def disk_file(self, vm, path_in_datastore):
        """The local file behind "[LocalDS_0] vm/disk.vmdk" (the lab's datastores are folders)."""
        import glob
        datastore, relative = path_in_datastore[1:].split("] ", 1)
        [folder] = glob.glob(os.path.join(os.path.dirname(self.ca_file), "datastores", "govcsim-*-%s-*" % datastore))
        return os.path.join(folder, relative)

    def connect(self):
        return SmartConnect(host=self.host, port=self.port, user=self.user, pwd=self.password, sslContext=self._ssl)


@pytest.fixture
def si(lab):
    service_instance = lab.connect()
    yield service_instance
    Disconnect(service_instance)


@pytest.fixture(scope="module")
def module_si(lab):
    """A connection for a module's own fixtures (a VM set up once for all its tests)."""
    service_instance = lab.connect()
    yield service_instance
    Disconnect(service_instance)


def create_vm(si, name, disk_mib, thin=True, eager=False, bootable=True):
    """A powered-off VM with a PVSCSI controller and one disk of each size in disk_mib (fractions of a
    MiB give capacities that are not whole MiB, as imported disks have), made
    through CreateVM_Task next to the lab's DC0_H0_VM0, as a user would; bootable: with a guest OS
    installed on its first disk (the lab writes a boot sector), so that it boots and runs Tools."""
    [template] = find_vm_by_name(si, "DC0_H0_VM0")
    changes = [vim.vm.device.VirtualDeviceSpec(operation="add", device=vim.vm.device.ParaVirtualSCSIController(
        key=-100, busNumber=0, sharedBus="noSharing"))]
    for unit, mib in enumerate(disk_mib):
        backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName="", diskMode="persistent", thinProvisioned=thin, eagerlyScrub=eager)
        disk = vim.vm.device.VirtualDisk(key=-101 - unit, controllerKey=-100, unitNumber=unit, capacityInKB=int(mib * 1024),
                                         backing=backing)
        changes.append(vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk))
    spec = vim.vm.ConfigSpec(name=name, guestId="otherGuest", numCPUs=1, memoryMB=64,
                             files=vim.vm.FileInfo(vmPathName="[LocalDS_0]"), deviceChange=changes)
    machine = wait(template.parent.CreateVM_Task(spec, template.resourcePool, template.runtime.host))
    if bootable and disk_mib:
        LabAccess().configure_vm(machine._moId, install_boot_sector=True)  # the name may be stored escaped
    return machine


def destroy_vm(machine):
    """Delete a test's VM whatever state it was left in: powered off, its RDMs detached (the
    LUNs are free again), no snapshots."""
    if machine.runtime.powerState != "poweredOff":
        wait(machine.PowerOffVM_Task())
    remove_rdms(machine)
    if machine.snapshot is not None:
        wait(machine.snapshot.rootSnapshotList[0].snapshot.RevertToSnapshot_Task())
        wait(machine.RemoveAllSnapshots_Task())
    wait(machine.Destroy_Task())


def destroy_vms(si, *names):
    for name in names:
        for machine in find_vm_by_name(si, name):
            destroy_vm(machine)


def rdm_disks(machine):
    return [d for d in machine.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)
            and isinstance(d.backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)]


def remove_rdms(machine):
    for disk in rdm_disks(machine):
        wait(machine.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="remove", fileOperation="destroy", device=disk)])))


@pytest.fixture
def rdm_vms(si):
    """DC0_H0_VM0 and DC0_H0_VM1, their RDMs removed afterwards."""
    [first] = find_vm_by_name(si, "DC0_H0_VM0")
    [second] = find_vm_by_name(si, "DC0_H0_VM1")
    yield first, second
    for machine in (first, second):
        remove_rdms(machine)


@pytest.fixture
def eager_vm(si):
    """A powered-off VM with one thick eager-zeroed disk."""
    machine = create_vm(si, "lab-eager", [64], thin=False, eager=True)
    yield machine
    destroy_vm(machine)


def settle(machine):
    """A test's VM back to how the lab starts it: no snapshots, powered on."""
    if machine.snapshot is not None:
        wait(machine.RemoveAllSnapshots_Task())
    if machine.runtime.powerState != "poweredOn":
        wait(machine.PowerOnVM_Task())


def find_vm_by_name(si, name):
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim.VirtualMachine], True)
    try:
        return [vm for vm in view.view if vm.name == name]
    finally:
        view.DestroyView()


def wait(task):
    """Plain pyVmomi task wait for test set-up (independent of the collection's own)."""
    from pyVim.task import WaitForTask
    WaitForTask(task)
    return task.info.result


def write_base_disk_directly(descriptor_path, offset, data):
    """Write into a base disk's flat extent and give it a new CID, as a SAN-mode restore through
    VDDK does (the lab's VDDK double will do this itself)."""
    import re
    import secrets
    with open(descriptor_path.replace(".vmdk", "-flat.vmdk"), "r+b") as flat:
        flat.seek(offset)
        flat.write(data)
    with open(descriptor_path) as f:
        text = f.read()
    with open(descriptor_path, "w") as f:
        f.write(re.sub(r"^CID=\w+$", "CID=" + secrets.token_hex(4), text, flags=re.M))


def play(playbook, env=None, verbose=False, hold=None, release_when=None, check=False, options=(), **extra_vars):
    """(exit code, output) of a job playbook; options are more ansible-playbook arguments (an
    inventory, forks). With a VddkHold, the transfer is held until a line of the output matches
    release_when, a regular expression (what the test wants to see while the transfer runs)."""
    run_env = dict(os.environ, **(env or {}), **(hold.env if hold else {}))
    process = subprocess.Popen(["ansible-playbook", os.path.join(ROOT, "playbooks", playbook), "-e", json.dumps(extra_vars)]
                               + (["-vvv"] if verbose else []) + (["--check"] if check else []) + list(options),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=run_env, cwd=ROOT)
    output = []
    for line in process.stdout:
        output.append(line)
        if hold and re.search(release_when, line):
            hold.release()
    if hold:
        hold.release()  # the play ended without showing it: the assertions say so
    return process.wait(), "".join(output)


def image_sha(repo_path, point_id, key_file=None):
    """The SHA-256 of the point's first disk image, assembled from its index and chunks."""
    repo = Repository(repo_path, key_file)
    [manifest] = [m for m in repo.points.list() if m["id"] == point_id]
    disk = manifest["disks"][0]
    index = repo.points.read_index(manifest, disk)
    digest = hashlib.sha256()
    for offset, length, chunk in index.extents():
        digest.update(repo.chunks.get(chunk) if chunk else bytes(length))
    return digest.hexdigest()


def mount_small_filesystem(mount_point, size="6m"):
    """A real file system of its own at mount_point (tmpfs), for a real ENOSPC or EROFS."""
    os.makedirs(mount_point)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", str(mount_point)], check=False).returncode:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")


def remount(mount_point, options):
    subprocess.run(["mount", "-o", "remount," + options, str(mount_point)], check=True)


def pytest_collection_modifyitems(items):
    """Tests marked after_all_other_tests run last: they check what the others recorded."""
    items.sort(key=lambda item: item.get_closest_marker("after_all_other_tests") is not None)


def pytest_terminal_summary(terminalreporter):
    """The fault matrix's cells as a table, when any ran (test_fault_matrix.py)."""
    matrix = sys.modules.get("test_fault_matrix")
    if not matrix or not matrix.ROWS:
        return
    terminalreporter.section("fault matrix: one fault per run, then the same job again")
    for cell, outcome in matrix.ROWS:
        terminalreporter.write_line("%-18s %-28s %-28s %s" % (cell.job, cell.step, cell.fault, outcome))


def read_vddk_trace(path):
    """The VDDK double's trace (VDDK_DOUBLE_TRACE): {file: [event, ...]} in the order they happened."""
    events = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                event = json.loads(line)
                events.setdefault(event["file"], []).append(event)
    return events


def sectors_written(events):
    """(sectors written, distinct sectors written) of one file's trace: equal when each sector is
    written once."""
    total, distinct, covered = 0, 0, []
    for e in (e for e in events if e["call"] == "write"):
        total += e["count"]
        covered.append((e["sector"], e["sector"] + e["count"]))
    end = 0
    for start, stop in sorted(covered):
        distinct += max(0, stop - max(start, end))
        end = max(end, stop)
    return total, distinct


def unchanged(result):
    """An idempotent re-run: it succeeded and changed nothing (a failed run also says changed: false)."""
    assert not result.get("failed"), result
    return result["changed"] is False


class VddkHold:
    """Holds a transfer inside the VDDK double at its Nth read or write (VDDK_DOUBLE_HOLD_AT) until
    the test releases it: what the test looks at meanwhile cannot race the transfer, however busy
    the machine is."""

    def __init__(self, folder, at):
        self.release_path = os.path.join(str(folder), "vddk-release")
        self.env = {"VDDK_DOUBLE_HOLD_AT": "%d:%s" % (at, self.release_path)}

    def wait_until_held(self, timeout=300):
        """Returns once the transfer is held; the timeout only bounds a transfer that never gets there."""
        wait_for(lambda: os.path.exists(self.release_path + ".held"), timeout, "the transfer reached the hold")

    def release(self):
        open(self.release_path, "w").close()


def wait_for(condition, timeout, what):
    """Polls for an event the lab or a process makes happen; the timeout is a bound for a broken
    run, never a guess at how long the event takes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("waited %d s for: %s" % (timeout, what))
        time.sleep(0.05)
