# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest file systems of a disk served over NBD, read through libguestfs (its appliance does
the file-system work; this file only asks it), read-only. No Ansible imports.
"""

from __future__ import annotations

import os
import posixpath
import stat
import sys
import tempfile
import time
from typing import Callable, List, Optional, Sequence

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._export.tree_extract import (
    ExtractRefusedError,
    extract_tree,
    refuse_links_on_the_way,
    without_setid,
)

# Debian's python3-guestfs, found from a virtual environment of the same Python version
_DISTRO_PACKAGES = "/usr/lib/python3/dist-packages"
# libguestfs's appliance without KVM; for hosts where qemu fails under KVM (nested, some CPUs)
_SOFTWARE_EMULATION = ["force_tcg"]
_TYPES = {stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "symlink", stat.S_IFCHR: "char_device",
          stat.S_IFBLK: "block_device", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


class GuestFilesError(VadpError):
    error_code = "GUESTFS_FAILED"


class GuestfsMissingError(GuestFilesError):
    error_code = "GUESTFS_MISSING"


class FilesystemRequiredError(GuestFilesError):
    error_code = "FILESYSTEM_REQUIRED"


class FilesystemNotFoundError(GuestFilesError):
    error_code = "FILESYSTEM_NOT_FOUND"


class GuestPathNotFoundError(GuestFilesError):
    error_code = "GUEST_PATH_NOT_FOUND"


class DestinationExistsError(GuestFilesError):
    error_code = "DESTINATION_EXISTS"


def _import_guestfs():
    try:
        import guestfs
    except ImportError:
        if not os.path.isdir(_DISTRO_PACKAGES) or _DISTRO_PACKAGES in sys.path:
            raise GuestfsMissingError("libguestfs's Python binding is not installed for this Python (Debian, Ubuntu: "
                                      "apt-get install python3-guestfs libguestfs-tools)")
        sys.path.append(_DISTRO_PACKAGES)  # last: the environment's own packages still come first
        return _import_guestfs()
    return guestfs


def guest_path(path: str) -> str:
    """An absolute guest path without '..' (a path that climbs could name anything)."""
    if not path.startswith("/") or ".." in path.split("/"):
        raise ExtractRefusedError("guest path %r must be absolute and without '..'" % path)
    return posixpath.normpath(path).replace("//", "/")


def _entry(name: str, st: dict, link: Optional[str]) -> dict:
    entry = {"name": name, "type": _TYPES.get(stat.S_IFMT(st["st_mode"]), "unknown"), "size": st["st_size"],
             "mode": "%04o" % stat.S_IMODE(st["st_mode"]), "uid": st["st_uid"], "gid": st["st_gid"],
             "mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st["st_mtime_sec"]))}
    if link is not None:
        entry["link_target"] = link
    return entry


def _target(dest: str, path: str) -> str:
    return os.path.join(dest, path.lstrip("/")) if path != "/" else dest


def check_destinations(paths: Sequence[str], dest: str, overwrite: bool) -> None:
    """Refuse, before the guest is even started, a target that exists (unless overwrite) or whose
    way passes a link dest already holds (the write would land wherever it leads)."""
    for path in paths:
        path = guest_path(path)
        target = _target(dest, path)
        refuse_links_on_the_way(dest, target)
        if not overwrite and path != "/" and os.path.lexists(target):
            raise DestinationExistsError("%s already exists: remove it, choose another dest, or set overwrite" % target)


class GuestFiles:
    """One libguestfs appliance on one NBD disk, read-only; close() ends it."""

    def __init__(self, socket: str, backend_settings: Optional[Sequence[str]] = None,
                 warn: Callable[[str], None] = lambda message: None):
        guestfs = _import_guestfs()
        self.backend_settings = list(backend_settings) if backend_settings is not None else None
        self.warn = warn
        self._g = self._launch(guestfs, socket)
        self._mounted: Optional[str] = None

    def _launch(self, guestfs, socket: str):
        settings = self.backend_settings
        while True:
            g = guestfs.GuestFS(python_return_dict=True)
            if settings is not None:
                g.set_backend_settings(settings)
            g.add_drive_opts("", protocol="nbd", server=["unix:" + socket], format="raw", readonly=True)
            try:
                g.launch()
                self.backend_settings = settings if settings is not None else g.get_backend_settings()
                return g
            except RuntimeError as exc:
                g.close()
                # none given: qemu may have failed under KVM; software emulation is slower but runs
                if settings is None and not os.environ.get("LIBGUESTFS_BACKEND_SETTINGS"):
                    settings = _SOFTWARE_EMULATION
                    self.warn("libguestfs's appliance did not start with the default backend settings; retried with "
                              "backend_settings [force_tcg] (software emulation, slower): set backend_settings to skip the try")
                    continue
                raise GuestFilesError("libguestfs's appliance did not start (backend settings %s): %s; run "
                                      "libguestfs-test-tool on this host to see why" % (settings, exc))

    def close(self) -> None:
        self._g.shutdown()
        self._g.close()

    @property
    def handle(self):
        """The libguestfs handle, for work beyond listing and copying (guest_scan.py); one caller at a time."""
        return self._g

    def unmount(self) -> None:
        self._g.umount_all()
        self._mounted = None

    def filesystems(self) -> List[dict]:
        found = []
        for device, kind in sorted(self._g.list_filesystems().items()):
            found.append({"device": device, "type": kind, "label": self._label(device, kind)})
        return found

    def _label(self, device: str, kind: str) -> Optional[str]:
        if kind in ("unknown", "swap", ""):
            return None
        try:
            return self._g.vfs_label(device) or None
        except RuntimeError:
            return None

    def mountable(self) -> List[str]:
        """The devices of the file systems libguestfs can mount."""
        return [f["device"] for f in self.filesystems() if f["type"] not in ("unknown", "swap", "")]

    def mount(self, device: Optional[str]) -> str:
        """Mount the file system (read-only) at the guest's /; with none given, the only one there is."""
        mountable = self.mountable()
        if device is None:
            if len(mountable) != 1:
                raise FilesystemRequiredError("the disk has %s: give filesystem, one of them" % (
                    "file systems %s" % ", ".join(mountable) if mountable else "no file system libguestfs can mount"))
            device = mountable[0]
        elif device not in mountable:
            raise FilesystemNotFoundError("no file system %s on the disk (its file systems: %s)" % (
                device, ", ".join(mountable) or "none"))
        self._g.mount_ro(device, "/")
        self._mounted = device
        return device

    def _lstat(self, path: str) -> dict:
        try:
            return self._g.lstatns(path)
        except RuntimeError:
            raise GuestPathNotFoundError("%s is not on file system %s" % (path, self._mounted))

    def list_dir(self, path: str) -> List[dict]:
        path = guest_path(path)
        st = self._lstat(path)
        if not stat.S_ISDIR(st["st_mode"]):
            return [_entry(posixpath.basename(path), st, self._g.readlink(path) if stat.S_ISLNK(st["st_mode"]) else None)]
        names = sorted(self._g.ls(path))
        stats = self._g.lstatnslist(path, names) if names else []
        links = iter(self._g.readlinklist(path, [n for n, s in zip(names, stats) if stat.S_ISLNK(s["st_mode"])]))
        return [_entry(n, s, next(links) if stat.S_ISLNK(s["st_mode"]) else None) for n, s in zip(names, stats)]

    def plan_extract(self, paths: Sequence[str], dest: str) -> List[dict]:
        """What extract would write (check_destinations first): every path exists in the guest."""
        planned = []
        for path in paths:
            path = guest_path(path)
            st = self._lstat(path)
            planned.append({"path": path, "dest": _target(dest, path), "type": _TYPES.get(stat.S_IFMT(st["st_mode"]), "unknown")})
        return planned

    def extract(self, planned: List[dict], dest: str, skip_unsafe: bool, keep_setid: bool = False) -> List[dict]:
        """Copy each planned path out with its owner, mode and times; a folder as a tar stream
        from the appliance, whose members are checked before anything is written."""
        skipped: List[dict] = []
        for item in planned:
            parent = os.path.dirname(item["dest"]) if item["dest"] != dest else dest
            os.makedirs(parent, exist_ok=True)
            if item["type"] == "directory":
                with tempfile.NamedTemporaryFile(dir=parent, prefix=".vadp-", suffix=".tar") as stream:
                    self._g.tar_out(item["path"], stream.name, numericowner=True, xattrs=True)
                    done = extract_tree(stream.name, item["dest"], dest, skip_unsafe, keep_setid)
                item.update(files=done["files"], bytes=done["bytes"])
                skipped += [{"path": posixpath.join(item["path"], s["name"]), "reason": s["reason"]} for s in done["skipped"]]
            elif item["type"] in ("file", "symlink"):
                item.update(self._extract_one(item, dest, skip_unsafe, skipped, keep_setid))
            else:
                raise ExtractRefusedError("%s is a %s: only files, folders and links are extracted" % (item["path"], item["type"]))
        return skipped

    def _extract_one(self, item: dict, dest: str, skip_unsafe: bool, skipped: List[dict], keep_setid: bool) -> dict:
        st, target = self._g.lstatns(item["path"]), item["dest"]
        if os.path.lexists(target):
            os.remove(target)
        if item["type"] == "symlink":
            link = self._g.readlink(item["path"])
            if os.path.isabs(link) or not _inside(os.path.join(os.path.dirname(target), link), dest):
                if not skip_unsafe:
                    raise ExtractRefusedError("%s is a link to %s, outside dest" % (item["path"], link))
                skipped.append({"path": item["path"], "reason": "a link to %s, outside dest" % link})
                return {"files": 0, "bytes": 0}
            os.symlink(link, target)
        else:
            self._g.download(item["path"], target)
            os.chmod(target, without_setid(stat.S_IMODE(st["st_mode"]), keep_setid))
        if os.geteuid() == 0:
            os.lchown(target, st["st_uid"], st["st_gid"])
        os.utime(target, ns=(st["st_atime_sec"] * 10**9 + st["st_atime_nsec"], st["st_mtime_sec"] * 10**9 + st["st_mtime_nsec"]),
                 follow_symlinks=False)
        return {"files": 1, "bytes": st["st_size"] if item["type"] == "file" else 0}


def _inside(path: str, folder: str) -> bool:
    folder = os.path.realpath(folder)
    return os.path.commonpath([os.path.realpath(path), folder]) == folder
