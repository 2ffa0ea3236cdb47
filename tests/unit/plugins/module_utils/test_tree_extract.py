"""Extracting a folder copied out of a guest: what would leave dest is refused before anything is
written (or left out when asked); the rest keeps its modes, times and numeric owners. The tars are
made with tar(1), as libguestfs's tar-out makes them."""
import os
import subprocess

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._export.tree_extract import ExtractRefusedError, extract_tree


def _tar(folder, tar_path):
    subprocess.run(["tar", "-C", str(folder), "--numeric-owner", "-cf", str(tar_path), "."], check=True)


@pytest.fixture
def guest(tmp_path):
    folder = tmp_path / "guest"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").write_bytes(b"h" * 10)
    (folder / "sub" / "file").write_bytes(b"x" * 1000)
    os.chmod(folder / "sub" / "file", 0o604)
    os.utime(folder / "sub" / "file", (1500000000, 1500000000))
    os.symlink("../.hidden", folder / "sub" / "inside")
    return folder


def test_a_safe_tree_is_extracted_with_modes_times_and_links(guest, tmp_path):
    tar, dest = tmp_path / "t.tar", tmp_path / "dest"
    _tar(guest, tar)
    done = extract_tree(str(tar), str(dest / "home"), str(dest), skip_unsafe=False)
    assert (done["files"], done["bytes"], done["skipped"]) == (2, 1010, [])
    copy = os.stat(dest / "home" / "sub" / "file")
    assert (copy.st_mode & 0o7777, int(copy.st_mtime)) == (0o604, 1500000000)
    assert (dest / "home" / "sub" / "inside").read_bytes() == b"h" * 10


@pytest.mark.parametrize("link", ["/etc/passwd", "../../../outside", "../../.."])
def test_a_link_pointing_out_of_dest_refuses_the_whole_folder_or_is_skipped(guest, tmp_path, link):
    os.symlink(link, guest / "sub" / "out")
    tar, dest = tmp_path / "t.tar", tmp_path / "dest"
    _tar(guest, tar)
    with pytest.raises(ExtractRefusedError, match="sub/out"):
        extract_tree(str(tar), str(dest / "home"), str(dest), skip_unsafe=False)
    assert not dest.exists()
    done = extract_tree(str(tar), str(dest / "home"), str(dest), skip_unsafe=True)
    assert [s["name"] for s in done["skipped"]] == ["sub/out"] and done["files"] == 2
    assert not os.path.lexists(dest / "home" / "sub" / "out")


def test_members_that_climb_or_are_devices_are_refused(tmp_path):
    import tarfile
    tar = tmp_path / "t.tar"
    with tarfile.open(tar, "w") as t:
        for name, kind, linkname in [("../escape", tarfile.REGTYPE, ""), ("/abs", tarfile.REGTYPE, ""),
                                     ("hard", tarfile.LNKTYPE, "../../x"), ("dev", tarfile.CHRTYPE, "")]:
            member = tarfile.TarInfo(name)
            member.type, member.linkname = kind, linkname
            t.addfile(member)
    with pytest.raises(ExtractRefusedError, match="4 entries"):
        extract_tree(str(tar), str(tmp_path / "dest" / "x"), str(tmp_path / "dest"), skip_unsafe=False)
    assert not (tmp_path / "dest").exists() and not (tmp_path / "escape").exists()


def test_a_link_dest_already_holds_on_the_way_is_refused_before_anything_is_written(guest, tmp_path):
    """dest/home -> elsewhere: the guest's home/sub/file would land in elsewhere/. Refused, for the
    folder's own path and for a member's."""
    tar, dest, elsewhere = tmp_path / "t.tar", tmp_path / "dest", tmp_path / "elsewhere"
    _tar(guest, tar)
    elsewhere.mkdir()
    dest.mkdir()
    os.symlink(str(elsewhere), dest / "home")
    with pytest.raises(ExtractRefusedError, match="is a link already in dest"):
        extract_tree(str(tar), str(dest / "home" / "alice"), str(dest), skip_unsafe=False)
    os.remove(dest / "home")
    (dest / "home" / "sub").mkdir(parents=True)
    os.symlink(str(elsewhere / "planted"), dest / "home" / "sub" / "file")  # a member's own path
    with pytest.raises(ExtractRefusedError, match="is a link already in dest"):
        extract_tree(str(tar), str(dest / "home"), str(dest), skip_unsafe=False)
    assert os.listdir(elsewhere) == [] and not (dest / "home" / ".hidden").exists()


def test_setuid_and_setgid_are_dropped_unless_kept(guest, tmp_path):
    os.chmod(guest / "sub" / "file", 0o6755)
    tar = tmp_path / "t.tar"
    _tar(guest, tar)
    extract_tree(str(tar), str(tmp_path / "a" / "home"), str(tmp_path / "a"), skip_unsafe=False)
    extract_tree(str(tar), str(tmp_path / "b" / "home"), str(tmp_path / "b"), skip_unsafe=False, keep_setid=True)
    assert os.stat(tmp_path / "a" / "home" / "sub" / "file").st_mode & 0o7777 == 0o755
    assert os.stat(tmp_path / "b" / "home" / "sub" / "file").st_mode & 0o7777 == 0o6755
