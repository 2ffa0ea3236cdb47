"""Ransomware against the lab: a guest with a real ext4 file system is backed up through days of
normal activity (log lines, which compress), then attacked (its files replaced by encrypted ones
and a ransom note); the next backup is marked suspicious with its figures, a YARA scan finds the
note in that point and nothing in the one before, a restore that requires a clean scan refuses
the infected point before the VM changes, and restore_point 'clean' restores the point before the
attack, byte for byte. libguestfs's appliance starts three times (about 20 s each without KVM)."""
import os
import subprocess

import pytest
from pyVim.connect import Disconnect
from pyVmomi import vim

from conftest import create_vm, destroy_vm, play, run_module, wait
from test_recovery_drill import _add_nic

VM = "lab-ransom"
MIB = 1 << 20
NOTE = "YOUR FILES ARE ENCRYPTED. vadp-lab-ransom-0001"
RULES = """rule ransom_note {
  strings:
    $note = "YOUR FILES ARE ENCRYPTED" ascii
  condition:
    $note
}
"""
ANOMALY = {"min_new_mib": 8}  # the lab's disk is 64 MiB; a real one's attack writes far more than the default 64 MiB


def _image(work, name, files):
    """A 48 MiB disk: an MBR partition at 1 MiB holding ext4 with files {guest path: bytes}."""
    tree, image = work / (name + "-tree"), work / (name + ".img")
    for path, data in files.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(data)
    with open(image, "wb") as f:
        f.truncate(48 * MIB)
    subprocess.run(["sfdisk", "-q", str(image)], input="start=2048, type=83\n", text=True, check=True)
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-L", "guestroot", "-d", str(tree), "-E", "offset=%d" % MIB,
                    str(image), "40M"], check=True)
    return str(image)


def _documents(encrypted):
    """Four 8 MiB documents (text that compresses), or the same encrypted (random) with a ransom note."""
    text = b"".join(b"quarterly report line %07d: revenue, costs and notes\n" % n for n in range(160000))[:8 * MIB]
    files = {"home/alice/doc%d.txt" % n: os.urandom(8 * MIB) if encrypted else text for n in range(4)}
    if encrypted:
        files = {path + ".locked": data for path, data in files.items()}
        files["home/alice/README-DECRYPT.txt"] = (NOTE + "\n").encode()
    return files


def _backup(repo):
    result = run_module("vadp.vsphere.vm_backup", dict(name=VM, repository=repo, anomaly=ANOMALY))
    assert not result.get("failed"), result
    return result


@pytest.fixture(scope="module")
def attacked(lab, tmp_path_factory):
    """Five points before the attack (a full, four days of activity) and one after; the disk's
    checksum at the last point before the attack."""
    work = tmp_path_factory.mktemp("ransom")
    si = lab.connect()
    machine = create_vm(si, VM, [64])
    try:
        _add_nic(machine)  # connected: an isolated restore disconnects it
        assert not run_module("vadp.vsphere.vm_cbt", dict(name=VM, state="enabled")).get("failed")  # incrementals, as the role makes
        wait(machine.PowerOnVM_Task())
        lab.guest_write(VM, offset=0, source=_image(work, "clean", _documents(encrypted=False)))
        repo = str(work / "repo")
        before = [_backup(repo)]
        for day in range(4):
            lab.guest_write(VM, offset=(48 + 3 * day) * MIB, length=2 * MIB, seed=day, pattern="text")  # logs, past the partition
            before.append(_backup(repo))
        clean_sha = lab.inspect(VM)["disks"][0]["sha256"]
        lab.guest_write(VM, offset=0, source=_image(work, "infected", _documents(encrypted=True)))
        after = _backup(repo)
        rules = work / "rules.yar"
        rules.write_text(RULES)
        yield {"repo": repo, "before": before, "after": after, "clean_sha": clean_sha, "rules": str(rules), "machine": machine}
    finally:
        destroy_vm(machine)
        Disconnect(si)


def test_normal_activity_is_not_flagged_and_the_attack_is_with_its_figures(attacked):
    last_normal, after = attacked["before"][-1], attacked["after"]
    assert not any(p["anomaly"]["suspicious"] for p in attacked["before"]), [p["anomaly"] for p in attacked["before"]]
    [judged] = last_normal["anomaly"]["disks"]
    assert judged["history"] == 3 and judged["usual_ratio"] < 0.2, judged  # judged against three days, whose data compressed
    assert after["anomaly"]["suspicious"], after["anomaly"]
    reasons = {r["reason"]: r["message"] for r in after["anomaly"]["reasons"]}
    assert set(reasons) == {"change_spike", "incompressible"}, after["anomaly"]
    assert "times the median of the last 4 points" in reasons["change_spike"], reasons
    assert "of it does not compress, as encrypted data does not" in reasons["incompressible"], reasons
    [figures] = after["anomaly"]["disks"]
    assert figures["incompressible_percent"] >= 50 and figures["new_bytes"] >= 32 * MIB, figures
    assert any("marked suspicious" in w for w in after.get("warnings", [])), after.get("warnings")
    listed = run_module("vadp.vsphere.restore_point_info", dict(repository=attacked["repo"], vm=VM))
    flags = [(p["id"], p["suspicious"]) for p in listed["points"]]
    assert flags == [(p["point_id"], False) for p in attacked["before"]] + [(after["point_id"], True)], flags
    assert listed["points"][-1]["suspicious_reasons"] == [r["message"] for r in after["anomaly"]["reasons"]]


def test_a_scan_finds_the_note_and_a_restore_that_requires_a_clean_scan_refuses_the_point_before_any_change(attacked, lab):
    repo, infected, machine = attacked["repo"], attacked["after"]["point_id"], attacked["machine"]
    broken = os.path.join(os.path.dirname(attacked["rules"]), "broken.yar")
    with open(broken, "w") as f:
        f.write("rule broken { condition: }\n")
    refused = run_module("vadp.vsphere.restore_point_scan", dict(repository=repo, vm=VM, rules=broken))
    assert refused.get("failed") and refused["error_code"] == "YARA_RULES_INVALID" and "broken.yar" in refused["msg"], refused
    checked = run_module("vadp.vsphere.restore_point_scan", dict(repository=repo, vm=VM, restore_point=infected,
                                                                 rules=attacked["rules"]), check_mode=True)
    assert not checked.get("failed") and checked["clean"] is False and "record" not in checked, checked
    assert [(m["path"], m["rules"]) for m in checked["matches"]] == [("/home/alice/README-DECRYPT.txt", ["ransom_note"])]
    assert checked["complete"] and checked["files_scanned"] == 5 and checked["bytes_scanned"] >= 32 * MIB, checked
    sha, snapshots = lab.inspect(VM)["disks"][0]["sha256"], machine.snapshot
    code, out = play("full_restore.yml", full_restore_vm=VM, full_restore_repository=repo, full_restore_point=infected,
                     full_restore_require_clean_scan=True, full_restore_scan_rules=attacked["rules"])
    assert code != 0 and "POINT_INFECTED" in out and "/home/alice/README-DECRYPT.txt" in out, out
    assert machine.runtime.powerState == "poweredOn" and machine.snapshot == snapshots and lab.inspect(VM)["disks"][0]["sha256"] == sha
    listed = run_module("vadp.vsphere.restore_point_info", dict(repository=repo, vm=VM))
    assert [p["scan"]["matches"][0]["path"] for p in listed["points"] if p["scan"]] == ["/home/alice/README-DECRYPT.txt"]


def test_the_clean_point_is_the_one_before_the_attack_and_restores_byte_for_byte_and_isolated(attacked, lab):
    """With full_restore_nics_connected false, the VM runs again with its network card disconnected."""
    repo, machine = attacked["repo"], attacked["machine"]
    code, out = play("full_restore.yml", full_restore_vm=VM, full_restore_repository=repo, full_restore_point="clean",
                     full_restore_require_clean_scan=True, full_restore_scan_rules=attacked["rules"],
                     full_restore_nics_connected=False)
    assert code == 0, out
    assert attacked["before"][-1]["point_id"] in out
    assert lab.inspect(VM)["disks"][0]["sha256"] == attacked["clean_sha"]
    [card] = [d for d in machine.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    assert machine.runtime.powerState == "poweredOn" and not card.connectable.startConnected
    assert not card.connectable.connected and not card.connectable.allowGuestControl
    again = run_module("vadp.vsphere.vm_power", dict(name=VM, state="powered-on", nics_connected=False))
    assert again["changed"] is False and again["nics_changed"] == [], again  # idempotent
    listed = run_module("vadp.vsphere.restore_point_info", dict(repository=repo, vm=VM, restore_point="clean"))
    assert listed["point"]["id"] == attacked["before"][-1]["point_id"]
    assert listed["points"][-2]["scan"]["matches"] == [] and listed["points"][-2]["scan"]["complete"], listed["points"][-2]
