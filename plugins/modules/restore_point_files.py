#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: restore_point_files
short_description: List and copy out files of a restore point's guest file systems, without restoring the disk
description:
  - Reads one disk of a restore point through a private, read-only NBD export (as
    M(vadp.vsphere.restore_point_export) serves it, stopped when the module returns) and libguestfs,
    which understands the guest's partitions and file systems (ext2/3/4, XFS, Btrfs, NTFS, FAT, LVM,
    as far as this host's libguestfs does).
  - Always returns the disk's file systems. With O(path), lists that guest folder's entries. With
    O(extract), copies those guest files or folders to O(dest), keeping their owners (numeric uids and
    gids, when the module runs as root), modes and times; each lands at its own guest path under
    O(dest) (C(/home/alice/notes.txt) to C(<dest>/home/alice/notes.txt)).
  - Read-only - no VM is touched, the repository is only read, and every chunk read is verified; a
    damaged chunk fails the run.
  - Nothing is written outside O(dest) - a guest path with C(..) is refused, and so is a folder that
    holds a link pointing outside O(dest) (an absolute link such as C(/etc/alternatives/x), or one
    that climbs out), unless O(skip_unsafe_links) leaves such links out and lists them. Every entry
    is checked before the first is written. A link that O(dest) already holds on the way to a file is
    refused too (the write would follow it), and so is a O(dest) inside a restore point repository.
  - Holds a shared lease on the repository while it reads, so a prune waits for it (docs/retention.md).
  - Works from the repository alone, without vCenter. Needs nbdkit with its Python plugin and
    libguestfs with its Python binding on the host that runs the module (Debian, Ubuntu -
    C(apt-get install nbdkit nbdkit-plugin-python libguestfs-tools python3-guestfs)). libguestfs
    starts a small appliance VM for each run (seconds with KVM, about 20 s without).
version_added: 0.2.0
author:
  - vadp.vsphere team (@vadp)
options:
  filesystem:
    description:
      - The file system to read, as libguestfs names it (C(/dev/sda1), C(/dev/vg0/root)); the returned RV(filesystems) lists them.
      - Not needed when the disk holds only one.
    type: str
  path:
    description: A guest folder (absolute, in the file system) whose entries to list.
    type: str
  extract:
    description: Guest files or folders (absolute paths) to copy to O(dest).
    type: list
    elements: str
  dest:
    description: The local folder to copy into; made if missing. Required with O(extract).
    type: path
  overwrite:
    description: Replace what already exists at a target under O(dest); otherwise such a target fails the run before anything is copied.
    type: bool
    default: false
  skip_unsafe_links:
    description: Leave out links that point outside O(dest) (and device files) and list them in RV(skipped), instead of refusing.
    type: bool
    default: false
  keep_setid:
    description:
      - Keep the setuid and setgid bits of the files copied out. By default they are dropped, so that a guest's
        setuid-root program does not become one on the host that runs the module.
    type: bool
    default: false
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.point_disk.point
  - vadp.vsphere.point_disk
  - vadp.vsphere.guestfs
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
  - vadp.vsphere.repository_lease
attributes:
  check_mode:
    support: full
    description: Lists as usual; with O(extract), checks every path and target and says what would be copied, copying nothing.
notes:
  - libguestfs sees the one disk of the point; a file system spanning several disks (an LVM volume group on two disks) is not readable this way.
  - Error codes - C(GUESTFS_MISSING), C(GUESTFS_FAILED) (the appliance did not start), C(FILESYSTEM_REQUIRED) (several file
    systems and none chosen), C(FILESYSTEM_NOT_FOUND), C(GUEST_PATH_NOT_FOUND), C(EXTRACT_REFUSED) (a path or link would lead
    outside O(dest)), C(DESTINATION_EXISTS), C(NBDKIT_MISSING), C(EXPORT_FAILED), C(POINT_NOT_FOUND), C(KEY_REQUIRED), C(KEY_WRONG).
seealso:
  - module: vadp.vsphere.restore_point_export
  - module: vadp.vsphere.restore_point_info
'''

EXAMPLES = r'''
- name: The file systems of web01's latest point
  vadp.vsphere.restore_point_files:
    repository: /backups/vsphere
    vm: web01
  register: web01_files

- name: What /etc/nginx held last night
  vadp.vsphere.restore_point_files:
    repository: /backups/vsphere
    vm: web01
    restore_point: "2026-12-01T23:00:00Z"
    filesystem: /dev/sda1
    path: /etc/nginx

- name: Copy two lost files and a folder back out, with their owners and times
  vadp.vsphere.restore_point_files:
    repository: /backups/vsphere
    vm: web01
    filesystem: /dev/sda1
    extract:
      - /etc/nginx/nginx.conf
      - /var/www/html/index.html
      - /home/alice
    dest: /var/tmp/web01-restore
'''

RETURN = r'''
point:
  description: The point read.
  returned: always
  type: str
vm:
  description: The VM of the point (its name as backed up).
  returned: always
  type: str
  sample: web01
disk:
  description: The key of the disk read (the point's only disk, or O(disk)).
  returned: always
  type: int
  sample: 2000
filesystems:
  description: The disk's file systems as libguestfs sees them.
  returned: always
  type: list
  elements: dict
  sample: [{device: /dev/sda1, type: ext4, label: root}, {device: /dev/sda2, type: swap, label: null}]
filesystem:
  description: The file system read, when a folder was listed or files extracted.
  returned: when O(path) or O(extract) is given
  type: str
entries:
  description: The entries of O(path) (or the entry itself when it is not a folder).
  returned: when O(path) is given
  type: list
  elements: dict
  sample: [{name: notes.txt, type: file, size: 12, mode: "0640", uid: 1000, gid: 1000, mtime: "2026-11-30T08:00:00Z"},
           {name: current, type: symlink, size: 7, mode: "0777", uid: 0, gid: 0, mtime: "2026-11-30T08:00:00Z", link_target: release}]
extracted:
  description: What was (in check mode, would be) copied - guest path, local path, type, and the files and bytes written.
  returned: when O(extract) is given
  type: list
  elements: dict
  sample: [{path: /home/alice, dest: /var/tmp/web01-restore/home/alice, type: directory, files: 12, bytes: 40960}]
skipped:
  description: Entries left out by O(skip_unsafe_links), with why.
  returned: when O(extract) is given
  type: list
  elements: dict
backend_settings:
  description: The libguestfs backend settings the appliance ran with.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.point_files import PointFilesJob, PointFilesOptions
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import VsphereModule, point_disk_argument_spec


class RestorePointFilesModule(VsphereModule):
    needs_vcenter = False

    def __init__(self):
        super().__init__(argument_spec=dict(
            **point_disk_argument_spec(),
            filesystem=dict(type="str"),
            path=dict(type="str"),
            extract=dict(type="list", elements="str"),
            dest=dict(type="path"),
            overwrite=dict(type="bool", default=False),
            skip_unsafe_links=dict(type="bool", default=False),
            keep_setid=dict(type="bool", default=False),
            backend_settings=dict(type="list", elements="str"),
            exports_dir=dict(type="path", default="~/.vadp/exports"),
        ), supports_check_mode=True, required_by={"extract": ["dest"]})

    def execute(self, client):
        options = self.options(PointFilesOptions, extract=tuple(self.params["extract"] or ()))
        return PointFilesJob(options, warn=self.module.warn).run(self.module.check_mode)


def main():
    RestorePointFilesModule().run()


if __name__ == "__main__":
    main()
