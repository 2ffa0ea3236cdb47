"""Restore planning on its own: what changed_only writes of a point, and when it refuses."""
import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs import restore_plan as restore
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.index import DiskIndex
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import ChunkExtent, ZeroExtent

MIB = 1 << 20


def test_changed_areas_are_cut_at_chunk_borders_and_carry_their_chunk():
    index = DiskIndex(4 * MIB, 16 * MIB, ["a" * 64, None, "c" * 64, "d" * 64])
    areas = [(4096, 8192), (3 * MIB, 2 * MIB), (9 * MIB, 6 * MIB)]
    assert restore._within_chunks(index, areas) == [
        ChunkExtent(4096, 8192, "a" * 64),
        ChunkExtent(3 * MIB, MIB, "a" * 64), ZeroExtent(4 * MIB, MIB),  # the second area spans chunks 0 and 1
        ChunkExtent(9 * MIB, 3 * MIB, "c" * 64), ChunkExtent(12 * MIB, 3 * MIB, "d" * 64),
    ]


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
