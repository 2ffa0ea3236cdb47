"""The lab's changed block tracking, shown with plain pyVmomi as a backup tool uses it."""
import pytest
from pyVmomi import vim, vmodl

from conftest import find_vm_by_name, wait

VM = "DC0_C0_RP0_VM1"
BLOCK = 64 * 1024


def _disk(vm_or_config):
    config = getattr(vm_or_config, "config", vm_or_config)
    return [d for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0]


def _set_cbt(vm, enabled):
    wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(changeTrackingEnabled=enabled)))


def _all_areas(vm, snapshot, key, change_id):
    """QueryChangedDiskAreas page after page until the whole disk is covered."""
    capacity = _disk(vm).capacityInBytes
    offset, areas, pages = 0, [], 0
    while offset < capacity:
        info = vm.QueryChangedDiskAreas(snapshot=snapshot, deviceKey=key, startOffset=offset, changeId=change_id)
        areas += [(a.start, a.start + a.length) for a in info.changedArea]
        offset = info.startOffset + info.length
        pages += 1
    return areas, pages


def _blocks(ranges):
    return sorted({b for start, end in ranges for b in range(start // BLOCK, (end + BLOCK - 1) // BLOCK)})


@pytest.fixture
def vm(si, lab):
    [machine] = find_vm_by_name(si, VM)
    yield machine
    lab.control("/faults", {"cbt_page_extents": 0})
    if machine.snapshot is not None:
        wait(machine.RemoveAllSnapshots_Task())
    _set_cbt(machine, False)


def test_star_returns_every_allocated_block(vm, lab):
    _set_cbt(vm, True)
    snapshot = wait(vm.CreateSnapshot_Task("backup", "", False, False))  # the stun that starts CBT
    key = _disk(vm).key
    areas = _all_areas(vm, snapshot, key, "*")[0]
    base = _disk(snapshot.config).backing.fileName
    with open(lab.disk_file(VM, base).replace(".vmdk", "-flat.vmdk"), "rb") as flat:
        data = flat.read()
    nonzero = [i for i in range(len(data) // BLOCK) if data[i * BLOCK:(i + 1) * BLOCK].count(0) != BLOCK]
    assert nonzero and set(nonzero) <= set(_blocks(areas))


def test_incremental_areas_are_exactly_the_guest_writes_and_page(vm, lab):
    _set_cbt(vm, True)
    first = wait(vm.CreateSnapshot_Task("full", "", False, False))
    key = _disk(vm).key
    first_change_id = _disk(first.config).backing.changeId
    assert first_change_id and "/" in first_change_id
    wait(first.RemoveSnapshot_Task(removeChildren=False))

    writes = [(5 << 20, 4096), (40 << 20, 3 * BLOCK + 512), (200 << 20, BLOCK)]
    for i, (offset, length) in enumerate(writes):
        lab.guest_write(VM, offset=offset, length=length, seed=i)
    second = wait(vm.CreateSnapshot_Task("incremental", "", False, False))
    assert _disk(second.config).backing.changeId != first_change_id

    areas = _all_areas(vm, second, key, first_change_id)[0]
    assert _blocks(areas) == _blocks([(o, o + n) for o, n in writes])

    lab.control("/faults", {"cbt_page_extents": 1})
    paged, pages = _all_areas(vm, second, key, first_change_id)
    assert pages == len(writes) and _blocks(paged) == _blocks(areas)


def test_faults_for_bad_offsets_disabled_cbt_and_stale_change_ids(vm, lab):
    _set_cbt(vm, True)
    snapshot = wait(vm.CreateSnapshot_Task("a", "", False, False))
    key, capacity = _disk(vm).key, _disk(vm).capacityInBytes
    old_change_id = _disk(snapshot.config).backing.changeId
    with pytest.raises(vmodl.fault.InvalidArgument):
        vm.QueryChangedDiskAreas(snapshot=snapshot, deviceKey=key, startOffset=capacity, changeId="*")

    wait(vm.RemoveAllSnapshots_Task())
    _set_cbt(vm, False)
    snapshot = wait(vm.CreateSnapshot_Task("b", "", False, False))  # CBT stops at this stun
    with pytest.raises(vim.fault.FileFault, match="not active"):
        vm.QueryChangedDiskAreas(snapshot=snapshot, deviceKey=key, startOffset=0, changeId=old_change_id)

    wait(vm.RemoveAllSnapshots_Task())
    _set_cbt(vm, True)
    snapshot = wait(vm.CreateSnapshot_Task("c", "", False, False))  # a new epoch: old ids are void
    with pytest.raises(vim.fault.FileFault, match="not valid"):
        vm.QueryChangedDiskAreas(snapshot=snapshot, deviceKey=key, startOffset=0, changeId=old_change_id)
