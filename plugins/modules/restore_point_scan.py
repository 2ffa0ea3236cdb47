#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: restore_point_scan
short_description: Scan a restore point's guest file systems with YARA rules, without restoring it
description:
  - Reads each disk of a restore point through a private, read-only NBD export and libguestfs (as
    M(vadp.vsphere.restore_point_files) does), and matches every regular file of every file system it can mount
    against YARA rules the user gives - ransomware notes, known malware, whatever the rules describe.
  - Returns each match with its file system, path and rules. The verdict is recorded in the repository beside the
    point (never in it) unless O(record) is false; restore_point V(clean) in every module skips a point whose last
    scan found matches, and M(vadp.vsphere.restore_point_info) shows the last scan of each point.
  - With O(require_clean), fails with C(POINT_INFECTED), naming each match, or C(SCAN_INCOMPLETE) (stopped at
    O(timeout), or no file system could be read, as with an encrypted guest disk) - the roles
    full_restore and disaster_recovery use it to refuse an infected point before they change anything.
  - Bounded - files larger than O(max_file_mib) are listed in RV(skipped_large), not read; the whole scan stops at
    O(timeout) seconds (RV(complete) false). Memory holds one file at a time.
  - Read-only - no VM is touched, the point is only read, every chunk read is verified. Works without vCenter.
    Needs nbdkit with its Python plugin, libguestfs with its Python binding, and YARA's Python binding
    (C(pip install yara-python), or Debian's C(python3-yara)) on the host that runs the module.
version_added: 0.3.0
author:
  - vadp.vsphere team (@vadp)
options:
  rules:
    description: A YARA rules file, or a folder of them (C(*.yar), C(*.yara), each compiled in its own namespace).
    type: path
    required: true
  disks:
    description: The device keys of the disks to scan (as M(vadp.vsphere.restore_point_info) shows them); every disk when not given.
    type: list
    elements: str
  filesystem:
    description: Scan only this file system, as libguestfs names it (C(/dev/sda1)); every one it can mount when not given.
    type: str
  max_file_mib:
    description: Files larger than this many MiB are not read (listed in RV(skipped_large), with a warning).
    type: int
    default: 64
  timeout:
    description: Seconds for the whole scan; a scan stopped by it is not complete (RV(complete)), and with O(require_clean) fails.
    type: int
    default: 3600
  record:
    description: Keep the verdict in the repository (what restore_point V(clean) and M(vadp.vsphere.restore_point_info) read).
    type: bool
    default: true
  require_clean:
    description: Fail with C(POINT_INFECTED) when a file matches, or C(SCAN_INCOMPLETE) when the scan stopped at O(timeout).
    type: bool
    default: false
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.point_disk.point
  - vadp.vsphere.guestfs
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
  - vadp.vsphere.repository_lease
attributes:
  check_mode:
    support: full
    description: Scans as usual but records nothing.
notes:
  - A file system spanning several disks (an LVM volume group on two disks) is not readable this way.
  - Error codes - C(POINT_INFECTED), C(SCAN_INCOMPLETE), C(YARA_MISSING), C(YARA_RULES_INVALID), C(GUESTFS_MISSING),
    C(GUESTFS_FAILED), C(FILESYSTEM_NOT_FOUND), C(NBDKIT_MISSING), C(EXPORT_FAILED), C(POINT_NOT_FOUND) (also for a
    disk the point lacks), C(KEY_REQUIRED), C(KEY_WRONG).
seealso:
  - module: vadp.vsphere.restore_point_files
  - module: vadp.vsphere.restore_point_info
'''

EXAMPLES = r'''
- name: Scan web01's latest point with the team's rules, and keep the verdict
  vadp.vsphere.restore_point_scan:
    repository: /backups/vsphere
    vm: web01
    rules: /etc/vadp/yara
  register: web01_scan

- name: Refuse to go on unless the newest clean-looking point really is clean
  vadp.vsphere.restore_point_scan:
    repository: /backups/vsphere
    vm: web01
    restore_point: clean
    rules: /etc/vadp/yara
    require_clean: true
'''

RETURN = r'''
point: {description: The point scanned., returned: always, type: str, sample: 20261124T210000Z-a1b2c3}
vm: {description: The VM of the point (its name as backed up)., returned: always, type: str, sample: web01}
clean: {description: Whether no file matched., returned: always, type: bool, sample: false}
matches:
  description: Each file that matched - its C(filesystem), C(path), C(size) and C(rules) (C(namespace:rule) for a folder of rules).
  returned: always
  type: list
  elements: dict
  sample: [{filesystem: /dev/sda1, path: /home/alice/README-DECRYPT.txt, size: 1024, rules: [ransom_note]}]
complete:
  description: Whether every file was reached - false when O(timeout) stopped the scan, or when no disk held a file system libguestfs can mount.
  returned: always
  type: bool
  sample: true
disks:
  description: Each disk scanned - C(disk) (its key) and the C(filesystems) scanned on it.
  returned: always
  type: list
  elements: dict
  sample: [{disk: 2000, filesystems: [/dev/sda1]}]
files_scanned: {description: Files matched against the rules., returned: always, type: int, sample: 18230}
bytes_scanned: {description: Their bytes., returned: always, type: int, sample: 1073741824}
skipped_large:
  description: Files larger than O(max_file_mib), not read.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/mysql/ibdata1]
max_file_mib: {description: The size limit the scan used., returned: always, type: int, sample: 64}
rules: {description: The rules used (an absolute path)., returned: always, type: str, sample: /etc/vadp/yara}
time: {description: When the scan ended (UTC)., returned: always, type: str, sample: "2026-12-07T09:00:00Z"}
seconds: {description: The scan's duration., returned: always, type: float, sample: 41.2}
scan_seconds:
  description: The part of it spent reading and matching files (without starting exports and libguestfs).
  returned: always
  type: float
  sample: 20.1
rate_mib_s: {description: Guest files scanned per second (MiB/s) over the whole run., returned: always, type: float, sample: 24.8}
record:
  description: The repository key the verdict was recorded under (not in check mode, nor with O(record) false).
  returned: when recorded
  type: str
  sample: vms/5003c1c4-1d4c-7a3e-2a7f-9c2a1d3e4f50/scans/20261124T210000Z-a1b2c3/20261207T090000123456Z-0f1e2d.json
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.point_scan import PointScanJob, PointScanOptions
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import VsphereModule, point_disk_argument_spec


class RestorePointScanModule(VsphereModule):
    needs_vcenter = False

    def __init__(self):
        spec = point_disk_argument_spec()
        del spec["disk"]
        super().__init__(argument_spec=dict(
            spec,
            rules=dict(type="path", required=True),
            disks=dict(type="list", elements="str"),
            filesystem=dict(type="str"),
            max_file_mib=dict(type="int", default=PointScanOptions.max_file_mib),
            timeout=dict(type="int", default=PointScanOptions.timeout),
            record=dict(type="bool", default=True),
            require_clean=dict(type="bool", default=False),
            backend_settings=dict(type="list", elements="str"),
            exports_dir=dict(type="path", default="~/.vadp/exports"),
        ), supports_check_mode=True)

    def execute(self, client):
        return PointScanJob(self.options(PointScanOptions), warn=self.module.warn).run(self.module.check_mode)


def main():
    RestorePointScanModule().run()


if __name__ == "__main__":
    main()
