"""repository_prune and restore_point against real backups of lab VMs: a pruned chain's surviving
point restores onto the VM byte for byte, and a prune never runs beside a backup in progress."""
import os
import threading

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import open_storage
from conftest import VddkHold, create_vm, destroy_vm, destroy_vms, find_vm_by_name, image_sha, play, run_module, settle, wait, wait_for

VM = "DC0_C0_RP0_VM0"
MIB = 1 << 20


@pytest.fixture
def vm(si):
    [machine] = find_vm_by_name(si, VM)
    settle(machine)
    yield machine
    settle(machine)


def prune(repo, check_mode=False, **args):
    return run_module("vadp.vsphere.repository_prune", dict(repository=repo, **args), check_mode=check_mode)


def test_a_chain_pruned_to_its_last_incremental_restores_exactly(vm, lab, tmp_path):
    repo = str(tmp_path / "repo")
    seed = int.from_bytes(os.urandom(4), "big")
    points = []
    for i in range(3):  # a full and two incrementals, each after new guest writes
        lab.guest_write(VM, offset=(16 + 40 * i) * MIB, length=3 * MIB, seed=seed + i)
        code, out = play("backup.yml", backup_vm=VM, backup_repository=repo)
        assert code == 0, out
        points.append((run_module("vadp.vsphere.restore_point_info", dict(repository=repo, vm=VM, restore_point="latest"))["point"],
                       lab.inspect(VM)["disks"][0]["sha256"]))
    assert [p["type"] for p, _sha in points] == ["full", "incremental", "incremental"]

    plan = prune(repo, check_mode=True, keep_last=1)
    assert plan["points_removed"] == 2 and plan["gc"]["bytes_freed"] > 0
    assert len(run_module("vadp.vsphere.restore_point_info", dict(repository=repo))["points"]) == 3  # check mode kept them
    done = prune(repo, keep_last=1)
    assert not done.get("failed"), done
    assert done["gc"] == plan["gc"] and done["points_removed"] == 2
    [(uuid, kept)] = done["vms"].items()
    assert [p["id"] for p in kept["kept"]] == [points[2][0]["id"]] and points[2][0]["parent"] == points[1][0]["id"]
    checked = run_module("vadp.vsphere.restore_point_info", dict(repository=repo, verify="deep"))
    assert checked["verified_ok"] and len(checked["points"]) == 1
    assert image_sha(repo, points[2][0]["id"]) == points[2][1]

    lab.guest_write(VM, offset=20 * MIB, length=4 * MIB, seed=seed + 9)  # the guest moves on; restore the point
    code, out = play("full_restore.yml", full_restore_vm=VM, full_restore_repository=repo, full_restore_power_off="powered-off")
    assert code == 0, out
    assert lab.inspect(VM)["disks"][0]["sha256"] == points[2][1]


@pytest.mark.watches_transfer
def test_a_prune_does_not_run_beside_a_backup_in_progress(vm, lab, tmp_path):
    """The backup is held inside VDDK (so it holds its lease) while the prune tries: the prune is
    refused, naming the backup; once the backup ends the prune runs, and both points verify."""
    repo = str(tmp_path / "repo")
    lab.guest_write(VM, offset=8 * MIB, length=12 * MIB, seed=int.from_bytes(os.urandom(4), "big"))
    assert play("backup.yml", backup_vm=VM, backup_repository=repo, backup_type="full")[0] == 0
    hold = VddkHold(tmp_path, at=2)
    results = {}
    backup = threading.Thread(target=lambda: results.update(backup=run_module(
        "vadp.vsphere.vm_backup", dict(name=VM, repository=repo, type="full"), env=hold.env)))
    backup.start()
    try:
        hold.wait_until_held()
        busy = prune(repo, keep_last=1, lock_timeout=0)
        assert busy.get("failed") and busy["error_code"] == "REPOSITORY_BUSY", busy
        assert "backup of %s" % VM in busy["msg"] and busy["holders"][0]["kind"] == "shared"
    finally:
        hold.release()
        backup.join()
    assert not results["backup"].get("failed"), results["backup"]
    done = prune(repo, keep_last=1, lock_timeout=0)
    assert done["points_removed"] == 1 and not os.listdir(os.path.join(repo, "locks"))
    checked = run_module("vadp.vsphere.restore_point_info", dict(repository=repo, verify="deep"))
    assert checked["verified_ok"] and [p["id"] for p in checked["points"]] == [results["backup"]["point_id"]]


def test_a_protected_point_outlives_prune_and_delete_until_unprotected(vm, lab, tmp_path):
    repo = str(tmp_path / "repo")
    for i in range(2):
        lab.guest_write(VM, offset=(30 + 8 * i) * MIB, length=MIB, seed=int.from_bytes(os.urandom(4), "big"))
        assert play("backup.yml", backup_vm=VM, backup_repository=repo)[0] == 0
    first = run_module("vadp.vsphere.restore_point_info", dict(repository=repo, vm=VM))["points"][0]["id"]
    point = dict(repository=repo, vm=VM, restore_point=first)
    assert run_module("vadp.vsphere.restore_point", dict(point, protected=True), check_mode=True)["changed"]
    assert run_module("vadp.vsphere.restore_point", dict(point, protected=True))["point"]["protected"] is True
    assert not run_module("vadp.vsphere.restore_point", dict(point, protected=True))["changed"]
    kept = prune(repo, keep_last=1)
    assert kept["points_removed"] == 0 and kept["vms"][next(iter(kept["vms"]))]["kept"][1]["kept_by"] == ["protected"]
    refused = run_module("vadp.vsphere.restore_point", dict(point, state="absent"))
    assert refused["error_code"] == "POINT_PROTECTED" and first in refused["msg"]
    run_module("vadp.vsphere.restore_point", dict(point, protected=False))
    deleted = run_module("vadp.vsphere.restore_point", dict(point, state="absent"))
    assert deleted["changed"] and deleted["state"] == "absent"
    remaining = run_module("vadp.vsphere.restore_point_info", dict(repository=repo, verify="deep"))
    assert remaining["verified_ok"] and first not in [p["id"] for p in remaining["points"]] and len(remaining["points"]) == 1


def test_the_backup_role_prunes_with_a_policy_and_the_prune_playbook_shows_its_plan(vm, lab, tmp_path):
    repo = str(tmp_path / "repo")
    for i in range(3):
        lab.guest_write(VM, offset=(50 + 8 * i) * MIB, length=MIB, seed=int.from_bytes(os.urandom(4), "big"))
        code, out = play("backup.yml", backup_vm=VM, backup_repository=repo, backup_retention={"keep_last": 2})
        assert code == 0, out
    assert "1 older point(s) of %s removed, 2 kept" % VM in out
    assert len(run_module("vadp.vsphere.restore_point_info", dict(repository=repo))["points"]) == 2
    code, out = play("prune.yml", check=True, prune_repository=repo, prune_keep_last=1)
    assert code == 0 and "1 point(s) would be removed, 1 kept" in out, out
    assert len(run_module("vadp.vsphere.restore_point_info", dict(repository=repo))["points"]) == 2
    code, out = play("prune.yml", prune_repository=repo, prune_keep_daily=0)
    assert code != 0 and "RETENTION_INVALID" in out


@pytest.mark.slow
@pytest.mark.parametrize("where", ["folder", "bucket"])
def test_backups_prunes_and_verifications_running_together_leave_every_point_exact(si, lab, tmp_path, where):
    """Two VMs backed up again and again (incrementals on CBT), while prunes (keep_last 2, with
    garbage collection) and deep verifications of the whole repository run in a loop beside them,
    in a folder and in a bucket of the lab's S3 server (where the leases are objects too).
    Afterwards every remaining point is, byte for byte, the disk as it was when it was taken."""
    repo = str(tmp_path / "repo") if where == "folder" else "s3://%s/stress-%s" % (
        os.environ["LAB_S3_BUCKET"], os.urandom(4).hex())
    names, rounds = ["lab-stress-a", "lab-stress-b"], 4
    destroy_vms(si, *names)
    machines = [create_vm(si, name, [32]) for name in names]
    recorded, failures, prunes = {}, [], []
    try:
        for machine in machines:
            wait(machine.PowerOnVM_Task())  # a guest writes only while its VM runs
        for name in names:
            assert not run_module("vadp.vsphere.vm_cbt", {"name": name, "state": "enabled"}).get("failed")

        def back_up(name, seed):
            try:
                for r in range(rounds):
                    lab.guest_write(name, offset=(r % 7) * 4 * MIB, length=MIB, seed=seed + r)
                    sha = lab.inspect(name)["disks"][0]["sha256"]
                    result = run_module("vadp.vsphere.vm_backup", dict(name=name, repository=repo))
                    if result.get("failed"):
                        failures.append(result)
                        return
                    recorded[result["point_id"]] = sha
            except Exception as exc:  # the main thread waits on failures, so none may vanish with the thread
                failures.append(repr(exc))

        seed = int.from_bytes(os.urandom(4), "big")
        writers = [threading.Thread(target=back_up, args=(name, seed + 100 * i)) for i, name in enumerate(names)]
        for thread in writers:
            thread.start()
        made = open_storage(repo)
        wait_for(lambda: made.exists("repository.json") or failures, 600, "the first backup made the repository")
        assert not failures, failures
        while any(t.is_alive() for t in writers) or not prunes:
            pruned = prune(repo, keep_last=2, lock_timeout=600)
            checked = run_module("vadp.vsphere.restore_point_info", dict(repository=repo, verify="deep"))
            prunes.append(pruned)
            if pruned.get("failed") or not checked["verified_ok"]:
                failures.append((pruned, checked))
        for thread in writers:
            thread.join()
        assert not failures, failures
        final = prune(repo, keep_last=2)
        points = run_module("vadp.vsphere.restore_point_info", dict(repository=repo, verify="deep"))
        assert points["verified_ok"] and points["unreferenced_chunks"]["count"] == 0
        assert len(points["points"]) == 2 * len(names) and final["points_kept"] == 4
        for point in points["points"]:
            assert image_sha(repo, point["id"]) == recorded[point["id"]], point
    finally:
        for machine in machines:
            destroy_vm(machine)
