# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A folder copied out of a guest (a tar stream) written under a destination that nothing in it
may leave: every member is checked before the first is written. Owners stay numeric (the guest's
users are not this host's), modes and times are kept. No Ansible imports.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from typing import List

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError


class ExtractRefusedError(VadpError):
    error_code = "EXTRACT_REFUSED"


_SETID = stat.S_ISUID | stat.S_ISGID


def link_on_the_way(dest: str, path: str, final: bool = False) -> str:
    """The first link that already exists between dest and path, in the folders on the way (and
    path itself with final), or "": writing path would follow it, wherever it leads."""
    relative = os.path.relpath(path, dest)
    parts = relative.split(os.sep) if relative != "." else []
    walked = dest
    for number, part in enumerate(parts, 1):
        walked = os.path.join(walked, part)
        if (number < len(parts) or final) and os.path.islink(walked):
            return walked
    return ""


def refuse_links_on_the_way(dest: str, path: str, final: bool = False) -> None:
    link = link_on_the_way(dest, path, final)
    if link:
        raise ExtractRefusedError("nothing extracted: %s is a link already in dest (to %s), and writing %s would follow "
                                  "it: remove it or choose another dest" % (link, os.readlink(link), path))


def without_setid(mode: int, keep_setid: bool) -> int:
    """A file's mode as written out: setuid and setgid dropped unless asked for (a guest's setuid
    root program is not meant to become one on this host)."""
    return mode if keep_setid else mode & ~_SETID


def _climbs(name: str) -> bool:
    return posixpath.isabs(name) or ".." in name.split("/")


def _unsafe_reason(member: tarfile.TarInfo, target: str, dest: str) -> str:
    if _climbs(member.name):
        return "its path %s leaves the folder" % member.name
    if member.issym():
        if posixpath.isabs(member.linkname):
            return "a link to %s, outside dest (an absolute guest path)" % member.linkname
        pointed = os.path.normpath(os.path.join(target, os.path.dirname(member.name), member.linkname))
        if os.path.commonpath([pointed, dest]) != dest:
            return "a link to %s, outside dest" % member.linkname
    if member.islnk() and _climbs(member.linkname):
        return "a hard link to %s, outside the folder" % member.linkname
    if member.isdev() or member.isfifo():
        return "a device or fifo"
    return ""


def extract_tree(tar_path: str, target: str, dest: str, skip_unsafe: bool, keep_setid: bool = False) -> dict:
    """Extract the tar at tar_path into target (a folder under dest): {files, bytes, skipped}.
    A member that would write or point outside dest is refused (nothing written) or, with
    skip_unsafe, left out and listed; one whose way passes a link dest already holds is refused."""
    refuse_links_on_the_way(os.path.abspath(dest), os.path.abspath(target))  # as given, before links are resolved
    dest = os.path.realpath(dest)
    target = os.path.join(os.path.realpath(os.path.dirname(target)), os.path.basename(target))
    with tarfile.open(tar_path) as tar:
        safe: List[tarfile.TarInfo] = []
        skipped = []
        for member in tar:
            reason = _unsafe_reason(member, target, dest)
            if reason:
                skipped.append({"name": posixpath.normpath(member.name), "reason": reason})
            else:
                safe.append(member)
        if skipped and not skip_unsafe:
            raise ExtractRefusedError("nothing extracted: %d entries would lead outside %s (%s); extract a narrower path "
                                      "or set skip_unsafe_links" % (len(skipped), dest, "; ".join(
                                          "%s: %s" % (s["name"], s["reason"]) for s in skipped[:5])))
        for member in safe:  # a link met on the way is followed by the write: refused before any
            refuse_links_on_the_way(dest, os.path.join(target, member.name), final=not member.issym() and not member.islnk())
            member.mode = without_setid(member.mode, keep_setid)
        os.makedirs(target, exist_ok=True)
        # the members were checked above; this filter keeps their owners and modes as they were
        trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
        tar.extractall(target, members=safe, numeric_owner=True, **trusted)
    files = [m for m in safe if m.isfile()]
    return {"files": len(files), "bytes": sum(m.size for m in files), "skipped": skipped}
