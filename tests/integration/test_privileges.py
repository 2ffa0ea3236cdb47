"""Least privilege against the lab, which enforces vCenter's authorization (tests/lab/simulator-ext/
lab_authz.go): a service account holding exactly a job's role (made by vadp.vsphere.authorization_role,
as playbooks/vsphere_roles.yml does) runs the job's role; with any one privilege of it taken away
the preflight names exactly that one, and the role (shown without the first) stops at it, naming
the privilege and the object, before the VM changes (no snapshot, CBT as it was, no VM made); and without the preflight vCenter itself, or VDDK, refuses
the step that needs the privilege. Backup, restore and disaster recovery; the recovery drill's
role is shown passing, and stopping at its preflight without the isolated network's Network.Assign
(its privileges are the recovery's)."""
import uuid

import pytest
from pyVmomi import vim

from conftest import create_vm, destroy_vm, destroy_vms, find_vm_by_name, play, run_module, wait
from test_recovery_drill import _add_nic
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.privileges import privileges_of

VM = "lab-privileges"
SYSTEM = {"System.Anonymous", "System.View", "System.Read"}
RAW_DEVICE = "VirtualMachine.Config.RawDevice"
EDIT_DEVICE = "VirtualMachine.Config.EditDevice"


@pytest.fixture(scope="module")
def machine(module_si, lab):
    destroy_vms(module_si, VM)
    made = create_vm(module_si, VM, [4])
    _add_nic(made)  # so that a recovery joins a network (Network.Assign)
    wait(made.PowerOnVM_Task())
    yield made
    destroy_vm(made)


@pytest.fixture(scope="module")
def account(lab, module_si):
    """A vCenter user of its own, given the role vadp-test-<job> on vCenter's root (propagating)."""
    name, password = "svc-%s@vsphere.local" % uuid.uuid4().hex[:6], uuid.uuid4().hex
    lab.control("/users", {"name": name, "password": password})
    return {"name": name, "password": password, "env": {"VMWARE_USER": name, "VMWARE_PASSWORD": password}}


def _give(si, account, job, privileges):
    """The account's role holds exactly privileges (made or changed by the module under test)."""
    role = "vadp-test-%s" % job
    made = run_module("vadp.vsphere.authorization_role", dict(name=role, privileges=privileges))
    assert not made.get("failed"), made
    content = si.RetrieveContent()
    content.authorizationManager.SetEntityPermissions(entity=content.rootFolder, permission=[
        vim.AuthorizationManager.Permission(principal=account["name"], group=False, roleId=made["role"]["id"], propagate=True)])


def _snapshots(machine):
    return machine.snapshot.rootSnapshotList if machine.snapshot else []


def test_the_roles_playbook_makes_each_jobs_role_once(si):
    for job in ("backup", "restore", "disaster_recovery", "recovery_drill"):  # an earlier run in this lab made them
        run_module("vadp.vsphere.authorization_role", dict(name="vadp-" + job, state="absent"))
    assert not run_module("vadp.vsphere.authorization_role", dict(name="vadp-backup", state="absent"))["changed"]
    code, out = play("vsphere_roles.yml")
    assert code == 0 and out.count("changed: [localhost]") == 4, out
    roles = {r.name: set(r.privilege) - SYSTEM for r in si.RetrieveContent().authorizationManager.roleList}
    for job in ("backup", "restore", "disaster_recovery", "recovery_drill"):
        assert roles["vadp-" + job] == set(privileges_of(job)), job
    code, out = play("vsphere_roles.yml")
    assert code == 0 and "changed=0" in out, out


def _without_each_privilege(module_si, account, job, preflight, play_role, unchanged, needed=None):
    """With each privilege of job's role (or of needed) taken away in turn, the preflight names
    exactly that one; the job's role, run without the first, stops at its preflight;
    unchanged(privilege) asserts that nothing changed."""
    needed = needed or privileges_of(job)
    for i, privilege in enumerate(needed):
        _give(module_si, account, job, [p for p in needed if p != privilege])
        if i == 0:
            code, out = play_role()
            assert code != 0 and "PREFLIGHT_FAILED" in out and "lacks the privilege %s" % privilege in out, out
        else:
            refused = run_module("vadp.vsphere.preflight", dict(preflight, job=job), env=account["env"])
            assert refused.get("failed") and refused["error_code"] == "PREFLIGHT_FAILED", refused
            assert {m["privilege"] for m in refused["missing_privileges"]} == {privilege}, refused
        unchanged(privilege)


def test_a_backup_needs_exactly_its_role_and_stops_before_any_change_without_one_of_it(machine, account, module_si, tmp_path):
    repository = str(tmp_path / "repo")
    _give(module_si, account, "backup", privileges_of("backup"))
    code, out = play("backup.yml", env=account["env"], backup_vm=VM, backup_repository=repository)
    assert code == 0, out
    assert machine.config.changeTrackingEnabled and _snapshots(machine) == []
    wait(machine.ReconfigVM_Task(vim.vm.ConfigSpec(changeTrackingEnabled=False)))  # what the failed runs must leave

    def unchanged(privilege):
        assert _snapshots(machine) == [] and not machine.config.changeTrackingEnabled, privilege

    _without_each_privilege(module_si, account, "backup", dict(name=VM, repository=repository), lambda: play(
        "backup.yml", env=account["env"], backup_vm=VM, backup_repository=repository), unchanged)
    listed = run_module("vadp.vsphere.restore_point_info", dict(repository=repository, vm=VM))
    assert len(listed["points"]) == 1, listed


@pytest.mark.parametrize("privilege, refused_by", [
    ("VirtualMachine.State.CreateSnapshot", "vCenter"),
    ("VirtualMachine.Provisioning.DiskRandomRead", "VDDK"),
])
def test_without_the_preflight_the_step_that_needs_a_privilege_is_refused(
        machine, account, module_si, tmp_path, privilege, refused_by):
    needed = privileges_of("backup")
    _give(module_si, account, "backup", [p for p in needed if p != privilege])
    result = run_module("vadp.vsphere.vm_backup", dict(name=VM, repository=str(tmp_path / "repo")), env=account["env"])
    assert result.get("failed") and privilege in result["msg"], result
    if refused_by == "vCenter":
        assert result["error_code"] == "PERMISSION_DENIED" and result["privilege"] == privilege
        assert result["object"] == machine._moId
    else:
        assert "VIX_E_HOST_USER_PERMISSIONS" in result["msg"] or "3014" in result["msg"], result
    assert _snapshots(machine) == []  # the snapshot a refused read found is gone again


def test_a_restore_needs_exactly_its_role_and_stops_before_any_change_without_one_of_it(machine, account, module_si, tmp_path):
    repository = str(tmp_path / "repo")
    assert not run_module("vadp.vsphere.vm_backup", dict(name=VM, repository=repository)).get("failed")
    _give(module_si, account, "restore", privileges_of("restore"))
    args = dict(full_restore_vm=VM, full_restore_repository=repository)
    code, out = play("full_restore.yml", env=account["env"], **args)
    assert code == 0, out
    power = machine.runtime.powerState

    def unchanged(privilege):
        assert _snapshots(machine) == [] and machine.runtime.powerState == power, privilege

    without_nics = [p for p in privileges_of("restore") if p != EDIT_DEVICE]  # the cards stay as they are
    _without_each_privilege(module_si, account, "restore", dict(name=VM, repository=repository),
                            lambda: play("full_restore.yml", env=account["env"], **args), unchanged, without_nics)
    _give(module_si, account, "restore", without_nics)
    refused = run_module("vadp.vsphere.preflight", dict(name=VM, repository=repository, job="restore", nics_connected=False),
                         env=account["env"])
    assert [m["privilege"] for m in refused["missing_privileges"]] == [EDIT_DEVICE], refused  # asked for only then


def test_a_disaster_recovery_needs_exactly_its_role_and_makes_no_vm_without_one_of_it(machine, account, module_si, tmp_path):
    repository, recovered = str(tmp_path / "repo"), VM + "-dr"
    destroy_vms(module_si, recovered)
    assert not run_module("vadp.vsphere.vm_backup", dict(name=VM, repository=repository)).get("failed")
    _give(module_si, account, "disaster_recovery", privileges_of("disaster_recovery"))
    args = dict(disaster_recovery_source_vm=VM, disaster_recovery_repository=repository, disaster_recovery_name=recovered,
                disaster_recovery_host="DC0_H0", disaster_recovery_datastore="LocalDS_0")
    try:
        code, out = play("disaster_recovery.yml", env=account["env"], **args)
        assert code == 0, out
    finally:
        destroy_vms(module_si, recovered)

    def unchanged(privilege):
        created = find_vm_by_name(module_si, recovered)
        destroy_vms(module_si, recovered)
        assert not created, privilege

    create = dict(name=recovered, repository=repository, source_vm=VM, host="DC0_H0", datastore="LocalDS_0")
    without_rdms = [p for p in privileges_of("disaster_recovery") if p != RAW_DEVICE]  # this VM maps none
    _without_each_privilege(module_si, account, "disaster_recovery", dict(create=create),
                            lambda: play("disaster_recovery.yml", env=account["env"], **args), unchanged, without_rdms)


def test_a_recovery_that_maps_an_rdm_needs_raw_device_on_the_folder(account, module_si, tmp_path):
    """VirtualMachine.Config.RawDevice is needed only where the new VM maps an RDM: the preflight
    names it then, and without the preflight vCenter refuses CreateVM_Task for it."""
    source, recovered, repository = VM + "-rdm", VM + "-rdm-dr", str(tmp_path / "repo")
    destroy_vms(module_si, source, recovered)
    made = create_vm(module_si, source, [4])
    luns = made.environmentBrowser.QueryConfigTarget(host=made.runtime.host).scsiDisk
    lun_a, lun_b = luns[0].disk.canonicalName, luns[1].disk.canonicalName
    try:
        assert not run_module("vadp.vsphere.rdm_disk", dict(name=source, lun=lun_a)).get("failed")
        assert not run_module("vadp.vsphere.vm_backup", dict(name=source, repository=repository)).get("failed")
        create = dict(name=recovered, repository=repository, source_vm=source, host="DC0_H0", datastore="LocalDS_0",
                      rdm_map={lun_a: lun_b})
        _give(module_si, account, "disaster_recovery", [p for p in privileges_of("disaster_recovery") if p != RAW_DEVICE])
        refused = run_module("vadp.vsphere.preflight", dict(job="disaster_recovery", create=create), env=account["env"])
        created = run_module("vadp.vsphere.vm_create_from_configinfo", create, env=account["env"])
        _give(module_si, account, "disaster_recovery", privileges_of("disaster_recovery"))
        passed = run_module("vadp.vsphere.preflight", dict(job="disaster_recovery", create=create), env=account["env"])
        assert [(m["privilege"], m["object_type"]) for m in refused["missing_privileges"]] == [(RAW_DEVICE, "Folder")], refused
        assert created.get("failed") and created["error_code"] == "PERMISSION_DENIED", created
        assert created["privilege"] == RAW_DEVICE and not find_vm_by_name(module_si, recovered), created
        assert not passed.get("failed"), passed
    finally:
        destroy_vms(module_si, source, recovered)


def test_a_drill_passes_with_its_role_and_makes_no_vm_without_the_isolated_networks_privilege(
        machine, account, module_si, tmp_path):
    repository, needed = str(tmp_path / "repo"), privileges_of("recovery_drill")
    assert not run_module("vadp.vsphere.vm_backup", dict(name=VM, repository=repository)).get("failed")
    args = dict(recovery_drill_vms=[VM], recovery_drill_repository=repository, recovery_drill_network="Isolated Network",
                recovery_drill_host="DC0_H0", recovery_drill_report_dir=str(tmp_path / "reports"))
    _give(module_si, account, "recovery_drill", needed)
    code, out = play("recovery_drill.yml", env=account["env"], **args)
    assert code == 0 and VM + ": passed" in out, out
    _give(module_si, account, "recovery_drill", [p for p in needed if p != "Network.Assign"])
    code, out = play("recovery_drill.yml", env=account["env"], **args)
    assert code != 0 and "PREFLIGHT_FAILED" in out and "lacks the privilege Network.Assign on Network Isolated Network" in out, out
    assert not find_vm_by_name(module_si, "vadp-drill-" + VM)
