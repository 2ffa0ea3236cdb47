"""The roles through the job playbooks (playbooks/*.yml), as AWX runs them, against the lab."""
import glob
import json
import os
import re

import pytest

from conftest import (VddkHold, create_vm, destroy_vm, destroy_vms, find_vm_by_name, image_sha, play, rdm_disks, read_vddk_trace,
                      run_module, sectors_written, settle, wait)
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

MIB = 1 << 20
VM = "DC0_C0_RP0_VM0"


@pytest.fixture
def vm(si):
    [machine] = find_vm_by_name(si, VM)
    settle(machine)
    yield machine
    settle(machine)


def test_full_restore_after_an_interruption_resumes_to_exact_content(vm, lab, tmp_path):
    repo, state = str(tmp_path / "repo"), str(tmp_path / "state")
    code, out = play("backup.yml", backup_vm=VM, backup_repository=repo)
    assert code == 0, out
    expected = lab.inspect(VM)["disks"][0]["sha256"]
    for i in range(8):  # 128 MiB to undo in writes of 2 MiB: a checkpoint (every 64 MiB) comes before the fault
        lab.guest_write(VM, offset=(20 + 28 * i) * (1 << 20), length=16 << 20, seed=80 + i)
    args = dict(full_restore_vm=VM, full_restore_repository=repo, full_restore_state_dir=state,
                full_restore_power_off="powered-off", full_restore_transport="nbd")
    code, out = play("full_restore.yml", env={"VDDK_DOUBLE_FAIL_WRITE": "60"}, **args)
    assert code != 0 and "resumes there" in out and "TRANSFER_FAILED" in out
    assert vm.runtime.powerState == "poweredOff" and vm.snapshot is None  # left stopped, nothing stray
    code, out = play("full_restore.yml", **args)
    assert code == 0, out
    assert "Resumed after an interruption" in out and "over nbd" in out
    assert lab.inspect(VM)["disks"][0]["sha256"] == expected
    assert vm.runtime.powerState == "poweredOn" and vm.snapshot is None


def test_bad_variables_fail_before_any_change(vm, tmp_path):
    code, out = play("full_restore.yml", full_restore_vm=VM, full_restore_repository=str(tmp_path), full_restore_transport="nbdsll")
    assert code != 0 and "full_restore_transport" in out and "nbdsll" in out
    code, out = play("full_restore.yml", full_restore_vm=VM, full_restore_repository=str(tmp_path))
    assert code != 0 and "is not a restore point repository" in out
    repo = str(tmp_path / "repo")
    assert play("backup.yml", backup_vm=VM, backup_repository=repo)[0] == 0
    code, out = play("full_restore.yml", full_restore_vm="no-such-vm", full_restore_repository=repo)
    assert code != 0 and "VM_NOT_FOUND" in out and "'no-such-vm'" in out
    code, out = play("full_restore.yml", full_restore_vm=VM, full_restore_repository=repo, full_restore_point="19990101T000000Z-000000")
    assert code != 0 and "POINT_NOT_FOUND" in out
    assert vm.runtime.powerState == "poweredOn" and vm.snapshot is None  # nothing was touched


def test_disaster_recovery_removes_its_half_created_vm_on_failure(vm, si, tmp_path):
    repo = str(tmp_path / "repo")
    assert play("backup.yml", backup_vm=VM, backup_repository=repo)[0] == 0
    args = dict(disaster_recovery_source_vm=VM, disaster_recovery_repository=repo, disaster_recovery_name="lab-dr",
                disaster_recovery_host="DC0_H0", disaster_recovery_datastore="LocalDS_0")
    code, out = play("disaster_recovery.yml", env={"VDDK_DOUBLE_FAIL_WRITE": "2"}, **args)
    assert code != 0 and 'failed at "Wait for the result of: fill the new disks from the point"' in out and "half-created VM was deleted" in out
    assert not find_vm_by_name(si, "lab-dr")
    code, out = play("disaster_recovery.yml", **args)
    assert code == 0, out
    destroy_vms(si, "lab-dr")


@pytest.fixture
def eager(si):
    """A thick eager-zeroed VM (the only kind SAN writes), powered on, CBT off."""
    machine = create_vm(si, "lab-roles-eager", [64], thin=False, eager=True)
    wait(machine.PowerOnVM_Task())
    yield machine
    destroy_vm(machine)


@pytest.mark.parametrize("transport", ["san", "hotadd", "nbdssl", "nbd"])
def test_full_restore_by_transport(eager, lab, tmp_path, transport):
    repo = str(tmp_path / "repo")
    assert play("backup.yml", backup_vm="lab-roles-eager", backup_repository=repo)[0] == 0
    expected = lab.inspect("lab-roles-eager")["disks"][0]["sha256"]
    lab.guest_write("lab-roles-eager", offset=3 << 20, length=1 << 20, seed=91)
    lab.guest_write("lab-roles-eager", offset=40 << 20, length=65536, seed=92)
    trace = str(tmp_path / "trace.jsonl")
    code, out = play("full_restore.yml", env={"VDDK_DOUBLE_TRACE": trace}, full_restore_vm="lab-roles-eager",
                     full_restore_repository=repo, full_restore_transport=transport, full_restore_power_off="powered-off")
    assert code == 0, out
    assert "over %s" % transport in out
    written = {name: sectors_written(events) for name, events in read_vddk_trace(trace).items()}
    assert [name.rsplit("/", 1)[-1] for name, (total, _d) in written.items() if total] == ["lab-roles-eager.vmdk"], written
    assert all(total == distinct for total, distinct in written.values()), written  # write amplification 1.00
    # every transport writes the base disk itself, each sector once: SAN beneath its restore snapshot (it does not
    # write redo logs), the others directly, with no snapshot delta to consolidate afterwards
    assert "lab-roles-eager/lab-roles-eager.vmdk: full" in out
    assert lab.inspect("lab-roles-eager")["disks"][0]["sha256"] == expected
    assert eager.snapshot is None and eager.runtime.powerState == "poweredOn"
    assert eager.config.changeTrackingEnabled is True  # on again after SAN, reset after the others


def test_san_refuses_to_remove_the_vm_s_own_snapshots(eager, tmp_path):
    repo = str(tmp_path / "repo")
    assert play("backup.yml", backup_vm="lab-roles-eager", backup_repository=repo)[0] == 0
    wait(eager.CreateSnapshot_Task("user snapshot", "", False, False))
    code, out = play("full_restore.yml", full_restore_vm="lab-roles-eager", full_restore_repository=repo,
                     full_restore_transport="san")
    assert code != 0 and "full_restore_remove_snapshots" in out
    assert eager.snapshot.rootSnapshotList[0].name == "user snapshot" and eager.runtime.powerState == "poweredOn"
    wait(eager.RemoveAllSnapshots_Task())


def test_san_is_refused_before_snapshots_or_cbt_are_touched(si, lab, tmp_path):
    """A thin disk cannot be written over SAN: the role must find out before it removes the
    VM's snapshots and turns CBT off, and leave the VM exactly as it was."""
    thin = create_vm(si, "lab-roles-thin", [64])
    try:
        assert not run_module("vadp.vsphere.vm_cbt", {"name": "lab-roles-thin", "state": "enabled"}).get("failed")
        wait(thin.PowerOnVM_Task())
        repo = str(tmp_path / "repo")
        assert play("backup.yml", backup_vm="lab-roles-thin", backup_repository=repo)[0] == 0
        wait(thin.CreateSnapshot_Task("user snapshot", "", False, False))
        code, out = play("full_restore.yml", full_restore_vm="lab-roles-thin", full_restore_repository=repo,
                         full_restore_transport="san", full_restore_remove_snapshots=True)
        assert code != 0 and "SAN_NOT_POSSIBLE" in out and "thick eager-zeroed" in out
        assert [n.name for n in thin.snapshot.rootSnapshotList] == ["user snapshot"]
        assert thin.config.changeTrackingEnabled is True and thin.runtime.powerState == "poweredOn"
    finally:
        destroy_vm(thin)


def test_disaster_recovery_never_writes_an_existing_vm_of_that_name(vm, si, lab, tmp_path):
    """disaster_recovery_name given as an existing, unrelated VM: the recovery refuses it and
    that VM's disk keeps every byte."""
    repo = str(tmp_path / "repo")
    assert play("backup.yml", backup_vm=VM, backup_repository=repo)[0] == 0
    bystander = create_vm(si, "lab-production", [256])
    try:
        before = lab.inspect("lab-production")["disks"][0]["sha256"]
        code, out = play("disaster_recovery.yml", disaster_recovery_source_vm=VM, disaster_recovery_repository=repo,
                         disaster_recovery_name="lab-production", disaster_recovery_host="DC0_H0",
                         disaster_recovery_datastore="LocalDS_0", disaster_recovery_reuse_existing=True)
        assert code != 0 and "VM_EXISTS_UNRELATED" in out and "left untouched" in out
        assert lab.inspect("lab-production")["disks"][0]["sha256"] == before
        assert find_vm_by_name(si, "lab-production") == [bystander]  # not deleted by the rescue either
        refused = run_module("vadp.vsphere.vm_create_from_configinfo", {"name": "lab-production", "state": "absent"})
        assert refused["failed"] and refused["error_code"] == "VM_EXISTS_UNRELATED"
    finally:
        destroy_vm(bystander)


def test_disaster_recovery_remaps_an_rdm_to_another_lun(si, lab, tmp_path):
    """The source maps LUN A (physical mode: not in the backup); the recovered VM maps LUN B,
    with the uuid QueryConfigTarget gives, and its virtual disk has the point's bytes."""
    source = create_vm(si, "lab-rdm-source", [32])
    luns = source.environmentBrowser.QueryConfigTarget(host=source.runtime.host).scsiDisk
    lun_a, lun_b = luns[2].disk, luns[3].disk
    try:
        assert not run_module("vadp.vsphere.rdm_disk", {"name": "lab-rdm-source", "lun": lun_a.canonicalName}).get("failed")
        wait(source.PowerOnVM_Task())
        lab.guest_write("lab-rdm-source", offset=1 << 20, length=1 << 20, seed=7)
        repo = str(tmp_path / "repo")
        code, out = play("backup.yml", backup_vm="lab-rdm-source", backup_repository=repo)
        assert code == 0 and "WARN disks lab-rdm-source" in out and "physical-mode RDM" in out, out  # the preflight says so
        expected = lab.inspect("lab-rdm-source")["disks"][0]["sha256"]
        code, out = play("disaster_recovery.yml", disaster_recovery_source_vm="lab-rdm-source", disaster_recovery_repository=repo,
                         disaster_recovery_name="lab-rdm-recovered", disaster_recovery_host="DC0_H0",
                         disaster_recovery_datastore="LocalDS_0", disaster_recovery_rdm_map={lun_a.canonicalName: lun_b.canonicalName},
                         disaster_recovery_boot_check=True)
        assert code == 0, out
        [recovered] = find_vm_by_name(si, "lab-rdm-recovered")
        rdms = [d.backing for d in rdm_disks(recovered)]
        assert [(b.deviceName, b.lunUuid, b.compatibilityMode) for b in rdms] == [(lun_b.canonicalName, lun_b.uuid, "physicalMode")]
        assert lab.inspect("lab-rdm-recovered")["disks"][0]["sha256"] == expected
    finally:
        destroy_vms(si, "lab-rdm-source", "lab-rdm-recovered")


JOBS_THAT_TRANSFER = {
    "backup.yml": lambda repo: dict(backup_vm=VM, backup_repository=repo, backup_poll_seconds=1),
    "full_restore.yml": lambda repo: dict(full_restore_vm=VM, full_restore_repository=repo, full_restore_power_off="powered-off",
                                          full_restore_poll_seconds=1),
    "disaster_recovery.yml": lambda repo: dict(disaster_recovery_source_vm=VM, disaster_recovery_repository=repo,
                                               disaster_recovery_name="lab-progress-dr", disaster_recovery_host="DC0_H0",
                                               disaster_recovery_datastore="LocalDS_0", disaster_recovery_poll_seconds=1),
}


@pytest.mark.watches_transfer
@pytest.mark.parametrize("playbook", sorted(JOBS_THAT_TRANSFER))
def test_every_job_that_transfers_shows_progress_while_it_runs(vm, si, lab, tmp_path, playbook):
    """The transfer is held at its third VDDK read or write until a progress line has been shown,
    at the default verbosity as AWX shows it (the backup at -vvv too, where module arguments show).
    The backup runs with become (su, root to root): the follow then asks the module for every
    answer, where the other jobs' local connection lets the action plugin read the status itself."""
    repo = str(tmp_path / "repo")
    lab.guest_write(VM, offset=1 << 20, length=8 << 20, seed=31)  # data enough for three VDDK calls
    if playbook != "backup.yml":  # the backup job makes the point the others restore
        assert play("backup.yml", backup_vm=VM, backup_repository=repo)[0] == 0
    verbose = playbook == "backup.yml"
    try:
        become = {"ansible_become": True, "ansible_become_method": "su"} if verbose else {}
        code, out = play(playbook, hold=VddkHold(tmp_path, at=3), release_when=r"localhost: running, [1-9]", verbose=verbose,
                         **JOBS_THAT_TRANSFER[playbook](repo), **become)
        assert code == 0, out
        assert "TASK [vadp.vsphere.follow_transfer : Follow: " in out, out
        assert re.search(r"^localhost: running, [1-9][0-9.]* MiB of .* \([0-9]+%\), .*/s", out, re.M), out
        assert re.search(r"^localhost: done, .* \(100%\)$", out, re.M), out
        assert "FAILED - RETRYING" not in out
        if verbose:
            assert os.environ["VMWARE_PASSWORD"] not in out  # -vvv shows module arguments: the password must not be among them
            answers = re.findall(r"^<localhost> EXEC .*python \S*AnsiballZ_transfer_status\.py", out, re.M)
            assert len(answers) >= 2, out  # with become, every answer came from the module: running, then done
    finally:
        destroy_vms(si, "lab-progress-dr")


def test_an_inventory_of_vms_backs_up_at_once_and_clones_store_their_common_chunks_once(si, lab, tmp_path):
    """playbooks/backup_vms.yml over an inventory of three VMs with three forks, as an AWX job
    template runs it: every point is its VM's disk, and two clones (the same bytes) share chunks."""
    names, repo = ["many-a", "many-b", "many-c"], str(tmp_path / "repo")
    vms = [create_vm(si, name, [32]) for name in names]
    try:
        for machine, name, seed in zip(vms, names, (71, 71, 72)):  # many-a and many-b are clones
            wait(machine.PowerOnVM_Task())
            lab.guest_write(name, offset=0, length=24 << 20, seed=seed)
        inventory = tmp_path / "vms.yml"
        inventory.write_text(json.dumps({"all": {"hosts": {name: {} for name in names}}}))
        code, out = play("backup_vms.yml", backup_repository=repo, options=["-i", str(inventory), "--forks", "3"])
        assert code == 0, out
        checked = run_module("vadp.vsphere.restore_point_info", {"repository": repo, "verify": "deep"})
        assert checked["verified_ok"] is True and len(checked["points"]) == 3
        for name in names:
            [point] = [p for p in checked["points"] if p["vm"] == name]
            assert image_sha(repo, point["id"]) == lab.inspect(name)["disks"][0]["sha256"]
        chunks = 24 * MIB // Repository(repo).chunk_size
        assert len(glob.glob(os.path.join(repo, "chunks", "*", "*", "*"))) == 2 * chunks  # 24 MiB of distinct chunks, twice
    finally:
        for machine in vms:
            destroy_vm(machine)
