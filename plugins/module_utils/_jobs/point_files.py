# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List a point's guest file systems and folders, and copy files out of it (the
restore_point_files module's work): a private NBD export of the disk for the time of the run,
read by libguestfs. Neither a VM nor the repository is touched. No Ansible imports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from typing import Callable, Optional, Sequence

from ansible_collections.vadp.vsphere.plugins.module_utils._export.guest_files import GuestFiles, check_destinations, guest_path
from ansible_collections.vadp.vsphere.plugins.module_utils._export.nbd_export import ExportOptions, NbdExports
from ansible_collections.vadp.vsphere.plugins.module_utils._export.tree_extract import ExtractRefusedError
from ansible_collections.vadp.vsphere.plugins.module_utils._files import read_json
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import DEFAULT_LEASE_TIMEOUT
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import REPOSITORY_FORMAT


@dataclasses.dataclass(frozen=True)
class PointFilesOptions:
    repository: str
    vm: Optional[str] = None
    restore_point: str = "latest"
    disk: Optional[str] = None
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None  # how to reach a repository in object storage (s3.OPTIONS)
    lock_timeout: int = DEFAULT_LEASE_TIMEOUT  # held through the export the extraction reads from
    filesystem: Optional[str] = None  # a device as libguestfs names it (/dev/sda1); the only one when not given
    path: Optional[str] = None  # a guest folder to list
    extract: Sequence[str] = ()  # guest paths to copy out
    dest: Optional[str] = None
    overwrite: bool = False
    skip_unsafe_links: bool = False
    keep_setid: bool = False
    backend_settings: Optional[Sequence[str]] = None
    exports_dir: Optional[str] = None


def _refuse_dest_in_a_repository(dest: str) -> None:
    """Files copied out never land in a repository (with overwrite they could replace its files)."""
    folder = os.path.realpath(dest)
    while True:
        settings = read_json(os.path.join(folder, "repository.json"))
        if isinstance(settings, dict) and settings.get("format") == REPOSITORY_FORMAT:
            raise ExtractRefusedError("nothing extracted: dest %s is inside the restore point repository %s; choose a "
                                      "folder outside it" % (dest, folder))
        if os.path.dirname(folder) == folder:
            return
        folder = os.path.dirname(folder)


@contextlib.contextmanager
def guest_of_point(export: ExportOptions, purpose: str, exports_dir: Optional[str], backend_settings, warn):
    """(libguestfs on one disk of a point, the export's plan), served by a private read-only
    export for the time of the with block (export.socket is set here)."""
    exports = NbdExports(exports_dir)
    socket_dir = tempfile.mkdtemp(prefix="vadp-%s-" % purpose)  # short: a socket path has at most 107 bytes
    export = dataclasses.replace(export, socket=os.path.join(socket_dir, "nbd.sock"))
    plan = exports.plan(export)
    plan["name"] = "%s-%s-%s-%d" % (purpose, plan["point"], plan["disk"], os.getpid())
    record = exports.start(dataclasses.replace(export, name=plan["name"]), plan)
    try:
        guest = GuestFiles(export.socket, backend_settings, warn)
        try:
            yield guest, plan
        finally:
            guest.close()
    finally:
        exports.stop(record)
        shutil.rmtree(socket_dir, ignore_errors=True)


class PointFilesJob:
    """warn receives the messages a caller should show (Ansible: module.warn)."""

    def __init__(self, options: PointFilesOptions, warn: Callable[[str], None] = lambda message: None):
        self.options, self.warn = options, warn

    def run(self, check_mode: bool = False) -> dict:
        o = self.options
        for path in list(o.extract) + ([o.path] if o.path is not None else []):
            guest_path(path)  # refused before anything starts
        if o.extract:
            _refuse_dest_in_a_repository(o.dest)
            check_destinations(o.extract, os.path.abspath(o.dest), o.overwrite)
        export = ExportOptions(repository=o.repository, vm=o.vm, restore_point=o.restore_point, disk=o.disk,
                               encryption_key_file=o.encryption_key_file, s3=o.s3, lock_timeout=o.lock_timeout)
        with guest_of_point(export, "files", o.exports_dir, o.backend_settings, self.warn) as (guest, plan):
            return self._read(guest, plan, check_mode)

    def _read(self, guest: GuestFiles, plan: dict, check_mode: bool) -> dict:
        o = self.options
        result = {"changed": False, "point": plan["point"], "vm": plan["vm"], "disk": plan["disk"],
                  "filesystems": guest.filesystems(), "backend_settings": guest.backend_settings}
        if o.path is None and not o.extract and o.filesystem is None:
            return result
        result["filesystem"] = guest.mount(o.filesystem)
        if o.path is not None:
            result["entries"] = guest.list_dir(o.path)
        if o.extract:
            dest = os.path.abspath(o.dest)
            planned = guest.plan_extract(o.extract, dest)
            result.update(changed=True, extracted=planned, skipped=[])
            if not check_mode:
                result["skipped"] = guest.extract(planned, dest, o.skip_unsafe_links, o.keep_setid)
        return result
