"""The transfer protocol: a plan that is not exactly what the worker can run is refused with
PLAN_INVALID by the builder (the typed objects) and again by the worker, before VDDK is loaded."""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import (
    ConnectParams,
    FileExtent,
    FilesSource,
    PlanInvalidError,
    PointExtent,
    ReadDiskPlan,
    RepositorySource,
    TransferPlan,
    VddkLibrary,
    WriteDiskPlan,
    ZeroExtent,
)

MIB = 1 << 20


def _restore_plan():
    disk = WriteDiskPlan("2000", "[ds] vm/vm.vmdk", RepositorySource("/repo", "20261201T000000Z-0001", 2000),
                         [PointExtent(0, 4 * MIB), ZeroExtent(4 * MIB, 4 * MIB)], zeros_where_allocated=True)
    return TransferPlan("write", VddkLibrary("/opt/vddk"), ConnectParams(server="vc", vm_moref="vm-1"), [disk])


def _backup_plan():
    disk = ReadDiskPlan("2000", "[ds] vm/vm.vmdk", capacity=10 * MIB, chunk_size=4 * MIB, chunks=[0, 2],
                        repository="/repo", index_out="/repo/x/disk-2000.index")
    return TransferPlan("read", VddkLibrary("/opt/vddk"), ConnectParams(server="vc", read_only=True), [disk])


@pytest.mark.parametrize("plan", [_restore_plan(), _backup_plan()], ids=["write", "read"])
def test_a_plan_survives_its_json(plan):
    again = TransferPlan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again == plan


def test_the_backup_plan_counts_the_short_last_chunk():
    assert _backup_plan().disks[0].bytes_total() == 4 * MIB + 2 * MIB


def _broken(edit):
    value = _restore_plan().to_json()
    edit(value)
    return value


BROKEN = {
    "unknown source kind": (lambda v: v["disks"][0]["source"].update(kind="nfs"), "unknown source kind 'nfs'"),
    "unknown extent kind": (lambda v: v["disks"][0]["extents"].append(["hole", 8 * MIB, 512]), "unknown extent kind 'hole'"),
    "missing field": (lambda v: v["disks"][0].pop("path"), "missing field"),
    "unknown field": (lambda v: v["disks"][0].update(verify_afterwrite=True), "unknown field"),
    "misaligned extent": (lambda v: v["disks"][0]["extents"].append(["zeros", 8 * MIB + 100, 512]), "not on 512-byte sectors"),
    "overlapping extents": (lambda v: v["disks"][0]["extents"].append(["zeros", 6 * MIB, 512]), "do not overlap"),
    "extent of the wrong source": (lambda v: v["disks"][0]["extents"].append(["file", 8 * MIB, 512, 0, 0]),
                                   "FileExtent extent cannot come from a repository source"),
    "unknown direction": (lambda v: v.update(direction="sideways"), "direction"),
    "another version": (lambda v: v.update(version=1), "plan version 1"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_builder_refuses_a_broken_plan(case):
    edit, message = BROKEN[case]
    with pytest.raises(PlanInvalidError, match=message) as caught:
        TransferPlan.from_json(_broken(edit))
    assert caught.value.error_code == "PLAN_INVALID"


def test_typed_objects_refuse_what_json_would_refuse():
    with pytest.raises(PlanInvalidError, match="not on 512-byte sectors"):
        WriteDiskPlan("1", "[ds] a.vmdk", FilesSource(["/img"]), [FileExtent(0, 1000, 0, 0)])
    with pytest.raises(PlanInvalidError, match="file number 1, the source has 1 file"):
        WriteDiskPlan("1", "[ds] a.vmdk", FilesSource(["/img"]), [FileExtent(0, 512, 1, 0)])
    with pytest.raises(PlanInvalidError, match="chunk numbers ascend"):
        ReadDiskPlan("1", "[ds] a.vmdk", 8 * MIB, 4 * MIB, [1, 0], "/repo", "/out")
    with pytest.raises(PlanInvalidError, match="a write plan's disks are WriteDiskPlan"):
        TransferPlan("write", VddkLibrary("/v"), ConnectParams(), _backup_plan().disks)


@pytest.mark.parametrize("case", ["unknown source kind", "misaligned extent", "missing field"])
def test_the_worker_refuses_a_broken_plan_before_loading_vddk(tmp_path, case):
    """The plan file written straight, as a bug or a hand edit would leave it: the worker's answer
    is PLAN_INVALID, not a transfer that reads an unknown source as zeros."""
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(_broken(BROKEN[case][0])))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    worker = subprocess.run([sys.executable, "-m", "ansible_collections.vadp.vsphere.plugins.module_utils._transfer.worker",
                             str(plan_file)], input="{}", capture_output=True, text=True, env=env, check=False)
    result = json.loads(worker.stdout)
    assert worker.returncode == 1 and result["failed"] and result["error_code"] == "PLAN_INVALID", (result, worker.stderr)
    assert BROKEN[case][1].split("'")[0] in result["error"]
