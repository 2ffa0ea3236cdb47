# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scan a point's guest file systems with YARA rules without restoring it (the
restore_point_scan module's work): each disk served by a private read-only NBD export, each
file system mounted read-only by libguestfs, every file up to a size limit matched. The verdict
is recorded beside the point (never in it), where restore_point 'clean' reads it. No Ansible
imports.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
from typing import Callable, Optional, Sequence

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._export.guest_files import FilesystemNotFoundError
from ansible_collections.vadp.vsphere.plugins.module_utils._export.guest_scan import ScanTally, compile_rules, scan_mounted
from ansible_collections.vadp.vsphere.plugins.module_utils._export.nbd_export import ExportOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.point_files import guest_of_point
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointNotFoundError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import DEFAULT_LEASE_TIMEOUT
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

MIB = 1 << 20


class PointInfectedError(VadpError):
    error_code = "POINT_INFECTED"


class ScanIncompleteError(VadpError):
    error_code = "SCAN_INCOMPLETE"


@dataclasses.dataclass(frozen=True)
class PointScanOptions:
    repository: str
    rules: str  # a YARA rules file, or a folder of them
    vm: Optional[str] = None
    restore_point: str = "latest"
    disks: Optional[Sequence[str]] = None  # device keys; every disk of the point when not given
    filesystem: Optional[str] = None  # one device as libguestfs names it; every mountable one when not given
    max_file_mib: int = 64  # larger files are listed as skipped, not read
    timeout: int = 3600  # seconds for the whole scan; a scan stopped by it is incomplete
    record: bool = True  # keep the verdict in the repository (restore_point clean reads it)
    require_clean: bool = False  # fail (POINT_INFECTED, SCAN_INCOMPLETE) unless the scan is complete and found nothing
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None
    lock_timeout: int = DEFAULT_LEASE_TIMEOUT
    backend_settings: Optional[Sequence[str]] = None
    exports_dir: Optional[str] = None


class PointScanJob:
    """warn receives the messages a caller should show (Ansible: module.warn)."""

    def __init__(self, options: PointScanOptions, warn: Callable[[str], None] = lambda message: None):
        self.options, self.warn = options, warn

    def run(self, check_mode: bool = False) -> dict:
        o = self.options
        rules = compile_rules(o.rules)  # bad rules are refused before any export starts
        repository = Repository(o.repository, o.encryption_key_file, o.s3)
        vm_key = repository.points.vm_key(o.vm, option="vm") if o.vm else None
        manifest = repository.points.find(vm_key, o.restore_point) if vm_key else repository.points.find(
            _vm_of_point(repository, o.restore_point), o.restore_point)
        keys = [str(d["key"]) for d in manifest["disks"]]
        wanted = list(o.disks) if o.disks else keys
        unknown = sorted(set(wanted) - set(keys))
        if unknown:
            raise PointNotFoundError("point %s has no disk %s (its disks: %s)" % (manifest["id"], ", ".join(unknown), ", ".join(keys)))
        started, tally = time.monotonic(), ScanTally()
        deadline = started + o.timeout
        scanned = []
        for disk in wanted:
            scanned.append({"disk": int(disk), "filesystems": self._scan_disk(manifest, disk, rules, deadline, tally)})
            if not tally.complete:
                break
        seconds = time.monotonic() - started
        found = [fs for d in scanned for fs in d["filesystems"]]
        if o.filesystem and not found and tally.complete:
            raise FilesystemNotFoundError("no disk of point %s holds file system %s (restore_point_files lists them)" % (
                manifest["id"], o.filesystem))
        if not found:  # nothing read cannot vouch for anything: an encrypted guest disk, or one libguestfs cannot read
            tally.complete = False
            self.warn("point %s has no file system libguestfs can mount: nothing was scanned" % manifest["id"])
        record = {"time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "rules": os.path.abspath(o.rules), "matches": tally.matches, "complete": tally.complete,
                  "disks": scanned, "files_scanned": tally.files, "bytes_scanned": tally.bytes,
                  "skipped_large": tally.skipped_large, "max_file_mib": o.max_file_mib}
        result = dict(record, changed=False, point=manifest["id"], vm=manifest["vm"]["name"], clean=not tally.matches,
                      seconds=round(seconds, 3), rate_mib_s=round(tally.bytes / MIB / seconds, 1) if seconds else None,
                      scan_seconds=round(tally.seconds, 3))
        if o.record and not check_mode:
            result.update(changed=True, record=repository.points.record_scan(manifest, record))
        if tally.skipped_large:
            self.warn("%d files larger than max_file_mib (%d MiB) were not scanned: %s" % (
                len(tally.skipped_large), o.max_file_mib, ", ".join(tally.skipped_large[:5])))
        if o.require_clean and tally.matches:
            raise PointInfectedError("point %s of %s is infected: %s" % (manifest["id"], manifest["vm"]["name"], "; ".join(
                "%s on %s matches %s" % (m["path"], m["filesystem"], ", ".join(m["rules"])) for m in tally.matches)),
                details=result)
        if o.require_clean and not tally.complete:
            why = "stopped at its time limit (%d s): raise timeout" % o.timeout if found else "found no file system to read"
            raise ScanIncompleteError("the scan of point %s cannot vouch for it: it %s" % (manifest["id"], why), details=result)
        return result

    def _scan_disk(self, manifest: dict, disk: str, rules, deadline: float, tally: ScanTally) -> list:
        """The file systems of one disk scanned (the one asked for, or every one libguestfs can mount)."""
        o = self.options
        export = ExportOptions(repository=o.repository, vm=manifest["vm"]["instance_uuid"], restore_point=manifest["id"],
                               disk=disk, encryption_key_file=o.encryption_key_file, s3=o.s3, lock_timeout=o.lock_timeout)
        with guest_of_point(export, "scan", o.exports_dir, o.backend_settings, self.warn) as (guest, _plan):
            devices = [d for d in guest.mountable() if o.filesystem in (None, d)]
            for device in devices:
                guest.mount(device)
                try:
                    scan_mounted(guest.handle, rules, device, o.max_file_mib * MIB, deadline, tally)
                finally:
                    guest.unmount()
                if not tally.complete:
                    break
            return devices


def _vm_of_point(repository, point_id: str) -> str:
    """The VM key of the point with this id (a scan by id without vm)."""
    for manifest in repository.points.list(damaged=[]):
        if manifest["id"] == point_id:
            return manifest["vm"]["instance_uuid"]
    raise PointNotFoundError("restore_point %r is not a point id of %s: give vm to choose by time, latest or clean" % (
        point_id, repository.points.storage.location))
