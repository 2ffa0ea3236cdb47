"""restore_point_files: a real ext4 file system (made by mke2fs in a partition) written onto a lab
VM's disk by its guest, backed up, then listed and copied out of the point through libguestfs.
Each run starts libguestfs's appliance (about 20 s here, without KVM), so the tests are few, each
run checks much, and six runs cover it all."""
import os
import shutil
import subprocess

import pytest
from pyVim.connect import Disconnect

from conftest import create_vm, destroy_vm, run_module, wait

VM = "files-vm"
MIB = 1 << 20
OLD = 1580702706  # 2020-02-03T04:05:06Z, the files' mtime


def _guest_tree(root):
    """The guest's files: owners, modes and times of their own, links inside and out."""
    alice = root / "home" / "alice"
    (alice / "projects").mkdir(parents=True)
    (alice / "notes.txt").write_text("notes of alice\n")
    (alice / "projects" / "data.bin").write_bytes(os.urandom(300000))
    os.symlink("../notes.txt", alice / "projects" / "notes-link")
    (root / "links").mkdir()
    (root / "links" / "readme").write_text("links\n")
    os.symlink("/etc/passwd", root / "links" / "passwd")
    for path in [alice, alice / "projects", alice / "notes.txt", alice / "projects" / "data.bin"]:
        os.chown(path, 1000, 1001)
    os.lchown(alice / "projects" / "notes-link", 1000, 1001)
    os.chmod(alice / "notes.txt", 0o640)
    os.chmod(alice / "projects", 0o750)
    for path in [alice / "notes.txt", alice / "projects" / "data.bin"]:
        os.utime(path, (OLD, OLD))


def _disk_image(work):
    """A 48 MiB disk: an MBR partition table, one partition at 1 MiB holding ext4 with the tree."""
    tree, image = work / "tree", work / "disk.img"
    _guest_tree(tree)
    with open(image, "wb") as f:
        f.truncate(48 * MIB)
    subprocess.run(["sfdisk", "-q", str(image)], input="start=2048, type=83\n", text=True, check=True)
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-L", "guestroot", "-d", str(tree), "-E", "offset=%d" % MIB,
                    str(image), "40M"], check=True)
    return tree, image


@pytest.fixture(scope="module")
def point(lab, tmp_path_factory):
    """(repository, point id, the guest tree as made) of a VM whose guest wrote an ext4 disk."""
    if os.geteuid() != 0:
        pytest.skip("the guest tree's owners need root")
    work = tmp_path_factory.mktemp("files")
    tree, image = _disk_image(work)
    si = lab.connect()
    machine = create_vm(si, VM, [64])
    try:
        wait(machine.PowerOnVM_Task())
        lab.guest_write(VM, offset=0, source=str(image))
        repo = str(work / "repo")
        backup = run_module("vadp.vsphere.vm_backup", {"name": VM, "repository": repo})
        assert not backup.get("failed"), backup
        yield repo, backup["point_id"], tree
    finally:
        destroy_vm(machine)
        Disconnect(si)


def files(repo, tmp_path, check_mode=False, **args):
    return run_module("vadp.vsphere.restore_point_files",
                      dict(repository=repo, vm=VM, exports_dir=str(tmp_path / "exports"), **args), check_mode=check_mode)


def test_lists_folders_and_extracts_files_byte_for_byte_with_owners_modes_and_times(point, tmp_path):
    """Three appliance launches: a listing, a check-mode extraction with the listing of a link, and
    the extraction; the same extraction again is refused before any starts."""
    repo, point_id, tree = point
    listed = files(repo, tmp_path, path="/home/alice")
    assert not listed.get("failed"), listed
    assert listed["changed"] is False and listed["point"] == point_id
    assert listed["filesystems"] == [{"device": "/dev/sda1", "type": "ext4", "label": "guestroot"}]
    assert listed["filesystem"] == "/dev/sda1"
    entries = {e["name"]: e for e in listed["entries"]}
    assert set(entries) == {"notes.txt", "projects"}
    assert entries["notes.txt"] == {"name": "notes.txt", "type": "file", "size": 15, "mode": "0640", "uid": 1000,
                                    "gid": 1001, "mtime": "2020-02-03T04:05:06Z"}
    assert entries["projects"]["type"] == "directory" and entries["projects"]["mode"] == "0750"
    assert os.listdir(tmp_path / "exports") == []  # the private export is gone

    dest = tmp_path / "restored"
    wanted = ["/home/alice/notes.txt", "/home/alice/projects"]
    planned = files(repo, tmp_path, check_mode=True, path="/home/alice/projects/notes-link", extract=wanted, dest=str(dest))
    assert [(e["type"], e["link_target"]) for e in planned["entries"]] == [("symlink", "../notes.txt")]
    assert planned["changed"] and [e["type"] for e in planned["extracted"]] == ["file", "directory"]
    assert not dest.exists()
    done = files(repo, tmp_path, extract=wanted, dest=str(dest))
    assert not done.get("failed"), done
    assert done["changed"] and done["skipped"] == []
    assert [(e["files"], e["bytes"]) for e in done["extracted"]] == [(1, 15), (1, 300000)]
    for relative in ["home/alice/notes.txt", "home/alice/projects/data.bin"]:
        source, copy = tree / relative, dest / relative
        assert copy.read_bytes() == source.read_bytes()
        mine, theirs = os.stat(copy), os.stat(source)
        assert (mine.st_mode, mine.st_uid, mine.st_gid, int(mine.st_mtime)) == (theirs.st_mode, 1000, 1001, OLD)
    projects = os.stat(dest / "home/alice/projects")
    assert (oct(projects.st_mode & 0o7777), projects.st_uid) == (oct(0o750), 1000)
    assert os.readlink(dest / "home/alice/projects/notes-link") == "../notes.txt"
    again = files(repo, tmp_path / "again", extract=wanted, dest=str(dest))
    assert again["failed"] and again["error_code"] == "DESTINATION_EXISTS", again
    assert not (tmp_path / "again").exists()  # refused before an export started


def test_nothing_is_written_outside_dest(point, tmp_path):
    repo, _point_id, _tree = point
    dest = tmp_path / "restored"
    climbing = files(repo, tmp_path, extract=["/home/alice/../../etc"], dest=str(dest))
    assert climbing["failed"] and climbing["error_code"] == "EXTRACT_REFUSED", climbing
    assert not (tmp_path / "exports").exists()  # refused before an export started
    pointing_out = files(repo, tmp_path, extract=["/links"], dest=str(dest))
    assert pointing_out["failed"] and pointing_out["error_code"] == "EXTRACT_REFUSED", pointing_out
    assert "/etc/passwd" in pointing_out["msg"] and not (dest / "links").exists()
    skipping = files(repo, tmp_path, extract=["/links"], dest=str(dest), skip_unsafe_links=True)
    assert [s["path"] for s in skipping["skipped"]] == ["/links/passwd"], skipping
    assert sorted(os.listdir(dest / "links")) == ["readme"]
    shutil.rmtree(dest)
    inside = files(repo, tmp_path, extract=["/home/alice/notes.txt"], dest=os.path.join(repo, "vms"), overwrite=True)
    assert inside["failed"] and inside["error_code"] == "EXTRACT_REFUSED" and "inside the restore point repository" in inside["msg"]
    assert os.listdir(tmp_path / "exports") == []
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dest.mkdir()
    os.symlink(str(elsewhere), dest / "home")  # a link dest already holds, on the way to the guest's /home/...
    followed = files(repo, tmp_path / "followed", extract=["/home/alice/notes.txt"], dest=str(dest))
    assert followed["failed"] and followed["error_code"] == "EXTRACT_REFUSED" and "is a link already in dest" in followed["msg"]
    assert not (tmp_path / "followed").exists()
    assert os.listdir(elsewhere) == []


def test_files_come_byte_for_byte_out_of_a_copy_of_the_point_in_a_bucket(point, tmp_path):
    """The same file restore from the lab's S3 server: the point copied there by repository_copy."""
    repo, point_id, tree = point
    bucket = "s3://%s/files-%s" % (os.environ["LAB_S3_BUCKET"], os.urandom(4).hex())
    copied = run_module("vadp.vsphere.repository_copy", dict(repository=repo, target=bucket))
    assert [p["id"] for p in copied["points_copied"]] == [point_id], copied
    dest, wanted = tmp_path / "from-bucket", "home/alice/projects/data.bin"
    done = files(bucket, tmp_path, extract=["/" + wanted], dest=str(dest))
    assert not done.get("failed") and done["point"] == point_id, done
    assert (dest / wanted).read_bytes() == (tree / wanted).read_bytes()
