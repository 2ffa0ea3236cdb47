"""The fault matrix: each job (backup, full_restore, disaster_recovery) run through its playbook
with one fault injected at one step. Every cell checks what an admin would check afterwards: the
job's exit and error_code, the VM's power state, snapshots and disk, no half-made VM or point left
unreported; then it removes the fault, runs the same job again and asserts the exact SHA-256 of
the wanted point. docs/failures.md lists the same cells as the promises they are; the table is
printed at the end of the run (`make test` shows what the cells cost among its slowest tests).
"""
import os
import re
import subprocess

import pytest

from conftest import ROOT, create_vm, destroy_vms, find_vm_by_name, image_sha, mount_small_filesystem, play, remount, settle
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.mover import DataMover
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.garbage import collect_garbage
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

VM, DR_NAME, MIB = "lab-faults", "lab-faults-dr", 1 << 20
ROWS = []  # (job, step, fault, outcome) of every cell run, for the table printed at the end


class Cell:
    """One fault at one step of one job, and what it must leave behind."""

    def __init__(self, job, step, fault, code, inject=None, repair=None, left=None):
        self.job, self.step, self.fault, self.code = job, step, fault, code
        self.inject = inject or (lambda ctx: {})  # arms the fault; returns the job's extra environment
        self.repair = repair or (lambda ctx: None)  # takes the fault away again
        self.left = left  # what the VM must look like after the failure (see the LEFT_* below)

    @property
    def id(self):
        return re.sub(r"[^a-z0-9]+", "-", ("%s %s %s" % (self.job, self.step, self.fault)).lower()).strip("-")


# --- the faults --------------------------------------------------------------------------------
def task_fault(method, fault="SystemError"):
    def inject(ctx):
        ctx.lab.control("/faults", {"tasks": [{"method": method, "fault": fault, "times": 1,
                                               "message": "injected by the fault matrix"}]})
        return {}
    return inject


def vddk_env(**variables):
    return lambda ctx: {"VDDK_DOUBLE_" + k: str(v) for k, v in variables.items()}


def session_loss(ctx):
    ctx.lab.control("/faults", {"terminate_sessions_after_calls": 40})
    return {}


def another_job(ctx):
    ctx.held = DataMover(str(ctx.tmp / "other-job"), vm_key=ctx.vm.config.instanceUuid)  # what a running job holds
    return {}


def end_other_job(ctx):
    ctx.held.close()


def point_file(ctx, kind):
    """The manifest, or a chunk the point needs, of the point the restore jobs restore."""
    repo = Repository(ctx.repo)
    [manifest] = repo.points.list()
    if kind == "manifest":
        return os.path.join(repo.storage.path(repo.points.folder(manifest)), "manifest.json")
    index = repo.points.read_index(manifest, manifest["disks"][0])
    return repo.storage.path(repo.chunks.key(next(e for e in index.entries if e)))


def damage(kind, how):
    def inject(ctx):
        path = point_file(ctx, kind)
        with open(path, "rb") as f:
            ctx.saved = (path, f.read())
        if how == "missing":
            os.unlink(path)
        else:  # the file stays, its content does not
            with open(path, "wb") as f:
                f.write(ctx.saved[1][:-1] + bytes([ctx.saved[1][-1] ^ 0xFF]) if kind == "chunk" else ctx.saved[1][:40])
        return {}
    return inject


def undamage(ctx):
    path, data = ctx.saved
    with open(path, "wb") as f:
        f.write(data)


def small_repository(ctx):
    """The backup's repository on a 6 MiB file system: ENOSPC for real."""
    mount_small_filesystem(ctx.tmp / "small")
    ctx.mounts.append(ctx.tmp / "small")
    ctx.repo = str(ctx.tmp / "small" / "repo")
    return {}


def grow_repository(ctx):
    remount(ctx.mounts[-1], "size=400m")


# --- what a failure must leave -------------------------------------------------------------------
def left_on_and_untouched(ctx):
    assert ctx.vm.runtime.powerState == "poweredOn" and ctx.disk_sha() == ctx.diverged


def left_off_and_untouched(ctx):
    assert ctx.vm.runtime.powerState == "poweredOff" and ctx.disk_sha() == ctx.diverged


def left_off_partly_restored(ctx):
    """Stopped, disks somewhere between the two states, and the output says to run again."""
    assert ctx.vm.runtime.powerState == "poweredOff"
    assert "run the job again" in ctx.out or "re-run" in ctx.out or "resumes there" in ctx.out, ctx.out[-3000:]


def left_no_point(ctx):
    """No new point, and no folder of an unfinished one (every point folder has its manifest)."""
    assert ctx.points() == ctx.points_before
    vms = os.path.join(ctx.repo, "vms")
    folders = [os.path.join(vms, v, "points", p) for v in os.listdir(vms) for p in os.listdir(os.path.join(vms, v, "points"))
               ] if os.path.isdir(vms) else []
    assert all(os.path.exists(os.path.join(f, "manifest.json")) for f in folders), folders
    leftovers = [os.path.join(root, f) for root, _d, names in os.walk(ctx.repo) for f in names if ".tmp." in f]
    # a writer killed between writing a chunk and linking it leaves its temporary file (a SIGKILL can land
    # there, more often with small chunks): only such files, and the next garbage collection sweeps them
    assert all(os.sep + "chunks" + os.sep in f for f in leftovers), leftovers
    if leftovers:
        assert collect_garbage(Repository(ctx.repo)).temporary_files_removed == len(leftovers)
        assert not [f for f in leftovers if os.path.exists(f)]


def left_point_and_named_snapshot(ctx):
    """The point is stored and the result says so; the snapshot it could not remove is named."""
    assert len(ctx.points()) == len(ctx.points_before) + 1
    [snapshot] = [n.name for n in ctx.vm.snapshot.rootSnapshotList]
    assert snapshot.startswith("vadp-backup-") and snapshot in ctx.out and '"changed": true' in ctx.out


def left_no_recovered_vm(ctx):
    assert not find_vm_by_name(ctx.si, DR_NAME)


CELLS = [
    Cell("backup", "take the backup snapshot", "vCenter task fails", "TASK_FAILED",
         inject=task_fault("CreateSnapshot_Task"), left=left_no_point),
    Cell("backup", "read the disks", "VDDK connection lost", "TRANSFER_FAILED", inject=vddk_env(DROP_AFTER=3),
         left=left_no_point),
    Cell("backup", "read the disks", "worker killed (SIGKILL)", "TRANSFER_FAILED",
         inject=vddk_env(CRASH_AFTER_READS=3), left=left_no_point),
    Cell("backup", "store the chunks", "repository full", "REPOSITORY_FULL", inject=small_repository,
         repair=grow_repository, left=left_no_point),
    Cell("backup", "remove the backup snapshot", "vCenter task fails", "BACKUP_SNAPSHOT_LEFT",
         inject=task_fault("RemoveSnapshot_Task", "FileLocked"), left=left_point_and_named_snapshot),
    Cell("backup", "start", "another job on the same VM", "TRANSFER_BUSY", inject=another_job, repair=end_other_job,
         left=left_no_point),
    Cell("backup", "any step", "vCenter session lost", None, inject=session_loss),
    Cell("full_restore", "check the point", "manifest damaged", "POINT_DAMAGED",
         inject=damage("manifest", "truncated"), repair=undamage, left=left_on_and_untouched),
    Cell("full_restore", "check the point", "chunk missing", "POINT_DAMAGED", inject=damage("chunk", "missing"),
         repair=undamage, left=left_on_and_untouched),
    Cell("full_restore", "power off", "vCenter task fails", "TASK_FAILED", inject=task_fault("PowerOffVM_Task"),
         left=left_on_and_untouched),
    Cell("full_restore", "write the disks", "VDDK open fails", "TRANSFER_FAILED", inject=vddk_env(FAIL_OPEN=1),
         left=left_off_and_untouched),
    Cell("full_restore", "write the disks", "VDDK write fails", "TRANSFER_FAILED",
         inject=vddk_env(FAIL_WRITE=3), left=left_off_partly_restored),
    Cell("full_restore", "write the disks", "worker killed (SIGKILL)", "TRANSFER_FAILED", inject=vddk_env(CRASH_AFTER_WRITES=3),
         left=left_off_partly_restored),
    Cell("full_restore", "write the disks", "VDDK connection lost", "TRANSFER_FAILED", inject=vddk_env(DROP_AFTER=3),
         left=left_off_partly_restored),
    Cell("full_restore", "write the disks", "chunk corrupt", "CHUNK_CORRUPT", inject=damage("chunk", "flipped"),
         repair=undamage, left=left_off_partly_restored),
    Cell("full_restore", "write the disks", "another job on the same VM", "TRANSFER_BUSY", inject=another_job,
         repair=end_other_job, left=left_off_and_untouched),
    Cell("full_restore", "any step", "vCenter session lost", None, inject=session_loss),
    Cell("disaster_recovery", "check the point", "manifest damaged", "POINT_DAMAGED", inject=damage("manifest", "truncated"),
         repair=undamage, left=left_no_recovered_vm),
    Cell("disaster_recovery", "create the VM", "vCenter task fails", "TASK_FAILED",
         inject=task_fault("CreateVM_Task"), left=left_no_recovered_vm),
    Cell("disaster_recovery", "fill the disks", "VDDK write fails", "TRANSFER_FAILED", inject=vddk_env(FAIL_WRITE=3),
         left=left_no_recovered_vm),
    Cell("disaster_recovery", "fill the disks", "worker killed (SIGKILL)", "TRANSFER_FAILED",
         inject=vddk_env(CRASH_AFTER_WRITES=3), left=left_no_recovered_vm),
    Cell("disaster_recovery", "power the new VM on", "vCenter task fails", "TASK_FAILED", inject=task_fault("PowerOnVM_Task"),
         left=left_no_recovered_vm),
    Cell("disaster_recovery", "any step", "vCenter session lost", None, inject=session_loss),
]


# --- the lab side ------------------------------------------------------------------------------
class Context:
    def __init__(self, lab, si, vm, repo, expected, tmp):
        self.lab, self.si, self.vm, self.repo, self.expected, self.tmp = lab, si, vm, repo, expected, tmp
        self.mounts, self.out, self.diverged, self.points_before = [], "", None, []

    def disk_sha(self, name=VM):
        return self.lab.inspect(name)["disks"][0]["sha256"]

    def points(self):
        try:
            return [m["id"] for m in Repository(self.repo).points.list()]
        except Exception:  # noqa: BLE001 - no repository yet: no points
            return []


@pytest.fixture(scope="module")
def source(module_si, lab, tmp_path_factory):
    """lab-faults (64 MiB, 12 MiB of data that does not compress) and one point of it."""
    destroy_vms(module_si, VM, DR_NAME)
    vm = create_vm(module_si, VM, [64])
    settle(vm)
    for i in range(3):
        lab.guest_write(VM, offset=(8 + 16 * i) * MIB, length=4 * MIB, seed=700 + i)
    repo = str(tmp_path_factory.mktemp("fault-matrix") / "repo")
    code, out = play("backup.yml", backup_vm=VM, backup_repository=repo)
    assert code == 0, out
    yield vm, repo, lab.inspect(VM)["disks"][0]["sha256"]
    destroy_vms(module_si, VM, DR_NAME)


def run_job(ctx, env=None):
    if ctx.cell.job == "backup":
        return play("backup.yml", env=env, backup_vm=VM, backup_repository=ctx.repo)
    if ctx.cell.job == "full_restore":
        return play("full_restore.yml", env=env, full_restore_vm=VM, full_restore_repository=ctx.repo,
                    full_restore_power_off="powered-off", full_restore_state_dir=str(ctx.tmp / "state"))
    return play("disaster_recovery.yml", env=env, disaster_recovery_source_vm=VM, disaster_recovery_repository=ctx.repo,
                disaster_recovery_name=DR_NAME, disaster_recovery_host="DC0_H0", disaster_recovery_datastore="LocalDS_0")


def check_done(ctx, code, out):
    """The job ended well and its result is exact: what a user checks after a run."""
    assert code == 0, out[-4000:]
    assert ctx.vm.snapshot is None
    if ctx.cell.job == "backup":
        assert ctx.points()[-1] not in ctx.points_before
        assert image_sha(ctx.repo, ctx.points()[-1]) == ctx.disk_sha()
    elif ctx.cell.job == "full_restore":
        assert ctx.disk_sha() == ctx.expected and ctx.vm.runtime.powerState == "poweredOn"
    else:
        [recovered] = find_vm_by_name(ctx.si, DR_NAME)
        assert ctx.disk_sha(DR_NAME) == ctx.expected and recovered.runtime.powerState == "poweredOn"
        destroy_vms(ctx.si, DR_NAME)


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_fault(cell, source, lab, module_si, tmp_path):
    vm, repo, expected = source
    ctx = Context(lab, module_si, vm, repo, expected, tmp_path)
    ctx.cell = cell
    settle(vm)
    if cell.job == "full_restore":  # the guest moved on since the point: the restore has work to do
        lab.guest_write(VM, offset=8 * MIB, length=2 * MIB, seed=len(ROWS) + 800)
    if cell.job == "backup":
        ctx.repo = str(tmp_path / "repo")
    ctx.diverged = ctx.disk_sha()
    try:
        env = cell.inject(ctx)
        ctx.points_before = ctx.points()
        code, ctx.out = run_job(ctx, env)
        lab.control("/faults", {"tasks": [], "terminate_sessions_after_calls": 0})
        if cell.inject is session_loss:  # the lab ended the test's own session too
            module_si.content.sessionManager.Login(lab.user, lab.password)
        if cell.code is None:  # a fault the job rides out
            check_done(ctx, code, ctx.out)
            ROWS.append((cell, "absorbed: the run ends exact"))
            return
        assert code != 0 and cell.code in ctx.out, ctx.out[-4000:]
        cell.left(ctx)
        if cell.left is not left_point_and_named_snapshot:
            assert ctx.vm.snapshot is None  # nothing stray on the VM
        cell.repair(ctx)
        ctx.points_before = ctx.points()
        code, ctx.out = run_job(ctx)
        check_done(ctx, code, ctx.out)
        ROWS.append((cell, "%s; re-run exact" % cell.code))
    finally:
        lab.control("/faults", {"tasks": [], "terminate_sessions_after_calls": 0})
        if getattr(ctx, "held", None):
            ctx.held.close()
        for mount_point in ctx.mounts:
            subprocess.run(["umount", str(mount_point)], check=False)


def test_every_cell_is_a_documented_promise():
    """docs/failures.md lists each cell (job, step, fault, error code) as a row."""
    with open(os.path.join(ROOT, "docs", "failures.md")) as f:
        rows = set(tuple(c.strip() for c in line.strip().strip("|").split("|")[:4]) for line in f if line.startswith("|"))
    missing = [(c.job, c.step, c.fault) for c in CELLS if (c.job, c.step, c.fault, "`%s`" % c.code if c.code else "none") not in rows]
    assert not missing, missing
