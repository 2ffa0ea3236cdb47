"""Extracting a folder copied out of a guest: what would leave dest is refused before anything is
written (or left out when asked); the rest keeps its modes, times and numeric owners. The tars are
made with tar(1), as libguestfs's tar-out makes them."""
import os
import subprocess

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils.export.tree_extract import ExtractRefusedError, extract_tree


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
