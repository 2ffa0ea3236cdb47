"""An encrypted repository against the lab: the guest's bytes are nowhere in its files (while an
unencrypted repository holds them verbatim: the search works), the jobs restore exactly with the
key, and without it they refuse before the VM is touched."""
import glob
import os

import pytest

from conftest import create_vm, destroy_vm, destroy_vms, play, run_module, wait

VM, MIB = "lab-encrypted", 1 << 20


@pytest.fixture
def vm(si, lab):
    destroy_vms(si, VM)
    machine = create_vm(si, VM, [32])
    wait(machine.PowerOnVM_Task())  # a guest writes only while its VM runs
    lab.guest_write(VM, offset=4 * MIB, length=2 * MIB, seed=int.from_bytes(os.urandom(4), "big"))
    with open(lab.disk_file(VM, "[LocalDS_0] %s/%s-flat.vmdk" % (VM, VM)), "rb") as f:
        f.seek(5 * MIB)
        sample = f.read(64)  # random bytes the guest wrote: found only where the data is stored as it is
    assert sample.strip(b"\0")
    yield machine, sample
    destroy_vm(machine)


def holds(folder, sample):
    for root, _dirs, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                if sample in f.read():
                    return True
    return False


def test_an_encrypted_repository_hides_the_data_and_restores_it_exactly(vm, lab, tmp_path):
    machine, sample = vm
    plain, sealed = str(tmp_path / "plain"), str(tmp_path / "sealed")
    key = tmp_path / "passphrase"
    key.write_text("a passphrase only the backup admins know\n")
    key.chmod(0o600)  # as an admin keeps it: a key file others can read is warned about, naming its path
    assert play("backup.yml", backup_vm=VM, backup_repository=plain)[0] == 0
    assert holds(plain, sample)  # the search finds the guest's bytes where they are not encrypted
    env = {"VADP_REPOSITORY_KEY_FILE": str(key)}
    code, out = play("backup.yml", env=env, backup_vm=VM, backup_repository=sealed)
    assert code == 0, out
    assert not holds(sealed, sample) and str(key) not in out and "passphrase only" not in out
    wrong = tmp_path / "another-passphrase"
    wrong.write_text("not the one\n")
    refused = run_module("vadp.vsphere.restore_point_info", {"repository": sealed, "encryption_key_file": str(wrong)})
    # the key is a secret, its path is not: the admin is told which file was wrong
    assert refused["error_code"] == "KEY_WRONG" and str(wrong) in refused["msg"] and "not the one" not in str(refused)
    expected = lab.inspect(VM)["disks"][0]["sha256"]

    lab.guest_write(VM, offset=4 * MIB, length=2 * MIB, seed=7)  # the guest moves on
    args = dict(full_restore_vm=VM, full_restore_repository=sealed, full_restore_power_off="powered-off")
    power = machine.runtime.powerState
    code, out = play("full_restore.yml", **args)
    assert code != 0 and "KEY_REQUIRED" in out and machine.runtime.powerState == power  # refused, untouched
    code, out = play("full_restore.yml", env=env, **args)
    assert code == 0, out
    assert lab.inspect(VM)["disks"][0]["sha256"] == expected


def flip_a_byte(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("target", ["chunk", "index", "manifest"])
def test_a_tampered_file_is_named_and_nothing_is_written_to_the_vm(vm, lab, tmp_path, target):
    """Someone with write access to the repository changes one byte of a chunk, an index or a
    manifest. The restore names the file and stops before the VM is touched: powered on as it
    was, its disk as the guest left it, no snapshot."""
    machine, _sample = vm
    repo, key = str(tmp_path / "sealed"), tmp_path / "key"
    key.write_text(os.urandom(32).hex())  # a raw key: 64 hexadecimal digits
    env = {"VADP_REPOSITORY_KEY_FILE": str(key)}
    assert play("backup.yml", env=env, backup_vm=VM, backup_repository=repo)[0] == 0
    lab.guest_write(VM, offset=4 * MIB, length=2 * MIB, seed=7)  # the guest moves on
    now = lab.inspect(VM)["disks"][0]["sha256"]
    files = {"chunk": max(glob.glob(os.path.join(repo, "chunks", "*", "*", "*")), key=os.path.getsize),
             "index": glob.glob(os.path.join(repo, "vms", "*", "points", "*", "disk-*.index"))[0],
             "manifest": glob.glob(os.path.join(repo, "vms", "*", "points", "*", "manifest.json"))[0]}
    flip_a_byte(files[target])

    code, out = play("full_restore.yml", env=env, full_restore_vm=VM, full_restore_repository=repo,
                     full_restore_point_check="deep")
    assert code != 0 and os.path.basename(files[target]) in out, out
    assert machine.runtime.powerState == "poweredOn" and machine.snapshot is None
    assert lab.inspect(VM)["disks"][0]["sha256"] == now
