"""Check mode writes nothing anywhere: every module, given what would change things, is run in
check mode; vCenter must see no state-changing call (the lab lists every *_Task, every other
changing method and every datastore upload), and no file may change in the repository or in the
transfers' state folders. Each module still says what it would have changed."""
import os

import pytest

from conftest import create_vm, destroy_vms, find_vm_by_name, run_module, wait

VM, NEW_VM = "lab-check", "lab-check-new"


def tree(*folders):
    """Every file and folder under folders, with size and modification time."""
    seen = {}
    for top in folders:
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(root, name)
                info = os.lstat(path)
                seen[path] = (info.st_size, info.st_mtime_ns, info.st_mode)
    return seen


@pytest.fixture(scope="module")
def setup(module_si, lab, tmp_path_factory):
    """lab-check (powered on, CBT off, no snapshot) and a repository with one point of it."""
    destroy_vms(module_si, VM, NEW_VM)
    vm = create_vm(module_si, VM, [32])
    wait(vm.PowerOnVM_Task())
    lab.guest_write(VM, offset=1 << 20, length=1 << 20, seed=5)
    repo = str(tmp_path_factory.mktemp("check-mode") / "repo")
    assert not run_module("vadp.vsphere.vm_backup", {"name": VM, "repository": repo}).get("failed")
    yield vm, repo
    destroy_vms(module_si, VM, NEW_VM)


def calls(repo, vm):
    """(module, arguments, what must be true of its check-mode result) for every module."""
    lun = vm.environmentBrowser.QueryConfigTarget(host=vm.runtime.host).scsiDisk[0].disk.canonicalName
    changes = {"changed": True}
    point_id = run_module("vadp.vsphere.restore_point_info", {"repository": repo, "vm": VM})["points"][-1]["id"]
    return [
        ("vm_power", {"name": VM, "state": "powered-off"}, changes),
        ("temp_snapshot", {"name": VM, "state": "present", "snapshot_name": "check"}, changes),
        ("vm_cbt", {"name": VM, "state": "enabled"}, changes),
        ("vm_backup", {"name": VM, "repository": repo}, changes),
        ("vm_backup", {"name": VM, "repository": repo + "-new"}, changes),
        ("vm_create_from_configinfo", {"name": NEW_VM, "repository": repo, "source_vm": VM, "host": "DC0_H0",
                                       "datastore": "LocalDS_0"}, changes),
        ("rdm_disk", {"name": VM, "lun": lun}, changes),
        ("restore_point_info", {"repository": repo, "vm": VM, "verify": "deep"}, {"changed": False}),
        ("restore_point_info", {"repository": repo, "verify": "deep", "space": True}, {"changed": False, "verified_ok": True}),
        ("restore_point", {"repository": repo, "vm": VM, "restore_point": "latest", "protected": True}, changes),
        ("restore_point", {"repository": repo, "vm": VM, "restore_point": point_id, "state": "absent"}, changes),
        ("repository_prune", {"repository": repo, "keep_last": 1}, {"points_removed": 0}),
        ("vm_info", {"name": VM}, {"changed": False}),
        ("preflight", {"name": VM, "job": "backup", "repository": repo}, {"changed": False}),
        ("authorization_role", {"name": "vadp-check-mode", "job": "restore"}, changes),
    ]


def checked(lab, repo, module, args):
    """The module's check-mode result, after asserting that it changed nothing at all."""
    watched = (os.path.dirname(repo), os.path.join(os.path.expanduser("~"), ".vadp"))
    before_calls, before_files = lab.control("/stats")["changes"], tree(*watched)
    result = run_module("vadp.vsphere." + module, args, check_mode=True)
    assert not result.get("failed"), (module, result)
    assert lab.control("/stats")["changes"] == before_calls, module
    assert tree(*watched) == before_files, module
    return result


def test_no_module_changes_anything_in_check_mode(setup, module_si, lab):
    vm, repo = setup
    for module, args, expected in calls(repo, vm):
        result = checked(lab, repo, module, args)
        assert {k: result[k] for k in expected} == expected, (module, result)
    assert vm.runtime.powerState == "poweredOn" and vm.snapshot is None and not find_vm_by_name(module_si, NEW_VM)


def test_a_restore_and_a_removal_change_nothing_in_check_mode(setup, module_si, lab):
    """The two that need a VM to act on: a restore onto the powered-off VM, and the removal of a
    recovered VM."""
    vm, repo = setup
    created = run_module("vadp.vsphere.vm_create_from_configinfo", {
        "name": NEW_VM, "repository": repo, "source_vm": VM, "host": "DC0_H0", "datastore": "LocalDS_0"})
    assert not created.get("failed"), created
    wait(vm.PowerOffVM_Task())
    try:
        for module, args in (("vmdk_restore", {"name": VM, "repository": repo, "mode": "full"}),
                             ("vm_create_from_configinfo", {"name": NEW_VM, "state": "absent"})):
            assert checked(lab, repo, module, args)["changed"] is True, module
        assert find_vm_by_name(module_si, NEW_VM) and vm.runtime.powerState == "poweredOff"
    finally:
        wait(vm.PowerOnVM_Task())
