"""Restore planning on its own: what changed_only writes of a point, and when it refuses."""
import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs import restore_plan as restore
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.index import DiskIndex

MIB = 1 << 20


def test_a_plan_checks_each_chunk_its_extents_read_once_per_run_and_no_zero_chunk():
    index = DiskIndex(4 * MIB, 20 * MIB, ["a" * 64, None, "c" * 64, "c" * 64, "a" * 64])
    extents = [restore.PointExtent(4096, 8192), restore.PointExtent(3 * MIB, 2 * MIB),  # chunk a twice, then zeros
               restore.PointExtent(9 * MIB, 11 * MIB)]  # c, c, a: one check for the run of c
    assert list(restore._needed_chunks(index, extents)) == ["a" * 64, "c" * 64, "a" * 64]


def test_a_disks_runs_merge_chunks_with_data_and_zero_chunks():
    index = DiskIndex(4 * MIB, 18 * MIB, ["a" * 64, "b" * 64, None, None, "c" * 64])
    assert list(index.runs()) == [(0, 8 * MIB, True), (8 * MIB, 8 * MIB, False), (16 * MIB, 2 * MIB, True)]


def _disk(**fields):
    disk = {"key": 2000, "capacity_bytes": 64 * MIB, "change_id": "52 aa/3"}
    disk.update(fields)
    return disk


@pytest.mark.parametrize("source, target, in_place, why", [
    (_disk(), _disk(), False, "not the VM the point was taken of"),
    (_disk(change_id=None), _disk(), True, "CBT was off at the backup"),
    (_disk(), _disk(change_id=None), True, "CBT is not on for target disk 2000 now"),
    (_disk(), _disk(capacity_bytes=128 * MIB), True, "resized"),
])
def test_changed_only_refuses_what_cbt_cannot_answer(source, target, in_place, why):
    with pytest.raises(restore.ChangedOnlyRefusedError, match=why):
        restore.changed_only_check(source, target, in_place)
    assert restore.changed_only_check(_disk(), _disk(), True) is None


def test_the_record_of_a_restore_names_source_and_target_files():
    pair = ({"key": 2000}, {"key": 2000, "file_name": "[ds] vm/vm.vmdk"})
    moved = ({"key": 2000}, {"key": 2000, "file_name": "[ds] vm/vm-000001.vmdk"})
    assert restore.restored_identity("p1", [pair]) == restore.restored_identity("p1", [pair])
    assert restore.restored_identity("p1", [pair]) != restore.restored_identity("p2", [pair])
    assert restore.restored_identity("p1", [pair]) != restore.restored_identity("p1", [moved])
