"""When a point is marked suspicious (anomaly.judge), and what restore_point 'clean' then selects,
on a real repository. The lab test (tests/integration/test_ransomware.py) shows the same from real
backups of a guest that is attacked."""
import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.anomaly import AnomalyThresholds, judge
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointNotFoundError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

MIB = 1 << 20
CHUNK = 4 * MIB
CAPACITY = 1024 * MIB


def _disk(changed, new, stored, kind="incremental"):
    return {"key": 2000, "label": "Hard disk 1", "capacity_bytes": CAPACITY, "changed_extents": [[0, changed]] if changed else [],
            "stats": {"kind": kind, "new_bytes": new, "stored_bytes": stored}}


def _point(n, disk, suspicious=False):
    return {"id": "p%d" % n, "parent": "p%d" % (n - 1) if n else None, "disks": [disk], "anomaly": {"suspicious": suspicious}}


def _daily(count):
    """Normal days: 20 MiB changed, new data stored at a fifth of its size."""
    return [_point(n, _disk(20 * MIB, 16 * MIB, 3.2 * MIB)) for n in range(count)]


def test_normal_activity_is_not_suspicious():
    record = judge([_disk(30 * MIB, 24 * MIB, 6 * MIB)], True, _daily(7), CHUNK, AnomalyThresholds())
    assert not record["suspicious"] and record["reasons"] == []
    [disk] = record["disks"]
    assert disk["median_changed_bytes"] == 20 * MIB and disk["usual_ratio"] == 0.2 and disk["incompressible_percent"] == 6.3


def test_encryption_of_most_of_a_disk_is_suspicious_for_both_reasons_with_its_figures():
    record = judge([_disk(900 * MIB, 880 * MIB, 704 * MIB)], True, _daily(7), CHUNK, AnomalyThresholds())
    assert record["suspicious"] and [r["reason"] for r in record["reasons"]] == ["change_spike", "incompressible"]
    spike, incompressible = (r["message"] for r in record["reasons"])
    assert "900.0 MiB changed (88% of the disk), 45.0 times the median of the last 7 points (20.0 MiB)" in spike
    assert "880.0 MiB of new data stored at 0.80 of its size where this VM's usually stores at 0.20: about 75% of it does not " \
        "compress" in incompressible


def test_a_vm_that_always_writes_incompressible_data_is_not_flagged_for_it():
    media = [_point(n, _disk(20 * MIB, 16 * MIB, 15.5 * MIB)) for n in range(7)]  # already compressed files
    record = judge([_disk(100 * MIB, 100 * MIB, 100 * MIB)], True, media, CHUNK, AnomalyThresholds())
    assert [r["reason"] for r in record["reasons"]] == []  # 5x the median, but 10% of the disk is not reached


def test_too_little_history_and_a_point_without_parent_are_not_judged():
    attack = _disk(900 * MIB, 880 * MIB, 870 * MIB)
    assert not judge([attack], True, _daily(2), CHUNK, AnomalyThresholds())["suspicious"]
    assert not judge([_disk(None, 880 * MIB, 870 * MIB, kind="full")], False, _daily(7), CHUNK, AnomalyThresholds())["suspicious"]


def test_without_cbt_the_new_data_of_a_full_read_stands_for_what_changed():
    """Deduplication against the parent leaves only what changed; the VM's first point says nothing of change."""
    days = [_point(n, _disk(None, (1024 if n == 0 else 16) * MIB, 3.2 * MIB, kind="full")) for n in range(5)]
    record = judge([_disk(None, 880 * MIB, 870 * MIB, kind="full")], True, days, CHUNK, AnomalyThresholds())
    assert [r["reason"] for r in record["reasons"]] == ["change_spike", "incompressible"], record
    assert record["disks"][0]["history"] == 4 and record["disks"][0]["median_changed_bytes"] == 16 * MIB


def test_suspicious_points_are_left_out_of_the_history():
    """A second day of encryption is compared with the days before the attack, not with the first day of it."""
    history = _daily(5) + [_point(5, _disk(900 * MIB, 880 * MIB, 870 * MIB), suspicious=True)]
    record = judge([_disk(800 * MIB, 780 * MIB, 770 * MIB)], True, history, CHUNK, AnomalyThresholds())
    assert record["suspicious"] and record["compared_with"] == ["p0", "p1", "p2", "p3", "p4"]


def test_clean_selects_the_newest_point_neither_suspicious_nor_found_infected(tmp_path):
    repo = Repository.create(str(tmp_path / "repo"), chunk_size=64 * 1024)
    vm = "5003c1c4-0000-0000-0000-0000000000aa"
    made = []
    for n, suspicious in enumerate([False, False, True]):
        writer = repo.points.begin(vm, "2026120%dT000000Z-00000%d" % (n + 1, n))
        made.append(writer.commit({"type": "full", "parent": None, "time": "2026-12-0%dT00:00:00Z" % (n + 1),
                                   "vm": {"name": "web01", "instance_uuid": vm}, "disks": [],
                                   "anomaly": {"suspicious": suspicious, "reasons": []}}))
    assert repo.points.find(vm, "latest")["id"] == made[2]["id"]
    assert repo.points.find(vm, "clean")["id"] == made[1]["id"]
    repo.points.record_scan(made[1], {"matches": [{"path": "/README-DECRYPT.txt"}], "complete": True})
    assert repo.points.find(vm, "clean")["id"] == made[0]["id"]
    repo.points.record_scan(made[1], {"matches": [], "complete": True})  # scanned again with better rules: the last counts
    assert repo.points.find(vm, "clean")["id"] == made[1]["id"]
    repo.points.record_scan(made[0], {"matches": [{"path": "/x"}], "complete": True})
    repo.points.record_scan(made[1], {"matches": [{"path": "/x"}], "complete": True})
    with pytest.raises(PointNotFoundError, match="no clean point"):
        repo.points.find(vm, "clean")
