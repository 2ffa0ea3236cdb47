#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: restore_point_export
short_description: Serve one disk of a restore point over NBD, read-only, without restoring it
description:
  - Starts (O(state=started)) an NBD export of one disk of a restore point through nbdkit, which
    keeps running after the module returns, or stops one (O(state=stopped)). Any NBD client reads
    the point's bytes from it - C(nbdcopy), C(qemu-img), C(qemu-nbd), libguestfs - for example to
    copy single files out, to check a file system, or to boot a copy.
  - Nothing is copied first - each chunk is read from the repository, and verified, when a
    client first reads its range. A damaged or missing chunk fails the reads of its range with an
    I/O error (nbdkit's log, C(export.log), names the chunk); other ranges still read, and nothing
    is repaired.
  - The export is read-only; with O(copy_on_write) a client may write, and its writes go to a
    temporary overlay that ends with the export. The repository is never written.
  - Idempotent by O(name) - a second run with the same point, disk and address changes nothing;
    several exports (of one point, too) run side by side under different names.
  - Every run lists the exports running on this host and removes the records of exports whose
    nbdkit has gone.
  - Needs nbdkit and its Python plugin on the host that runs the module (Debian, Ubuntu -
    C(apt-get install nbdkit nbdkit-plugin-python)), with the same Python version as the one
    running the module (the plugin imports the collection's repository code and its libraries).
  - While it runs, an export holds a shared lease on the repository - a prune or a point deletion waits for it to
    end (or fails with C(REPOSITORY_BUSY) naming it) rather than remove what it serves; an export started while
    one runs waits up to O(lock_timeout). It is given back when the export stops.
  - Works from the repository alone, without vCenter.
version_added: 0.2.0
author:
  - vadp.vsphere team (@vadp)
options:
  repository:
    description:
      - The repository's folder, or V(s3://bucket/prefix) for one in object storage (O(s3)).
      - Required with O(state=started); O(state=stopped) needs only O(name).
    type: path
    required: false
  name:
    description:
      - The export's name; by default the point id and disk key. Required with O(state=stopped).
      - A name, never a path - no C(/), not C(.) or C(..), at most 200 bytes (it names the export's folder);
        anything else fails with C(INVALID_ARGUMENT) before anything is touched.
    type: str
  state:
    description: C(started) serves the disk; C(stopped) ends the export named O(name).
    type: str
    choices: [started, stopped]
    default: started
  socket:
    description: Serve on this Unix socket (a path). Give O(socket) or O(address).
    type: path
  address:
    description:
      - Serve over TCP on C(host:port). Beyond a loopback address O(tls_psk_file) is required.
    type: str
  tls_psk_file:
    description:
      - TLS with pre-shared keys (nbdkit's C(--tls-psk) file, lines of C(username:hexkey)); clients must use TLS.
    type: path
  copy_on_write:
    description: Let clients write; their writes go to a temporary overlay, never to the repository.
    type: bool
    default: false
  exports_dir:
    description: Where exports keep their records, logs and a copy of the code nbdkit runs.
    type: path
    default: ~/.vadp/exports
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.point_disk.point
  - vadp.vsphere.point_disk
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
  - vadp.vsphere.repository_lease
attributes:
  check_mode:
    support: full
    description: Checks the point, the disk, the key and the address and says what would start or stop.
notes:
  - An encrypted repository is read with O(encryption_key_file); nbdkit keeps the key file's path, so the
    file must stay readable while the export runs.
  - Error codes - C(NBDKIT_MISSING), C(TLS_REQUIRED) (TCP beyond loopback without O(tls_psk_file)),
    C(EXPORT_NAME_TAKEN) (the name serves something else), C(EXPORT_FAILED) (nbdkit did not start; its log
    is in the message), C(POINT_NOT_FOUND), C(KEY_REQUIRED), C(KEY_WRONG).
seealso:
  - module: vadp.vsphere.restore_point_info
'''

EXAMPLES = r'''
- name: Serve the latest point of web01's first disk on a Unix socket
  vadp.vsphere.restore_point_export:
    repository: /backups/vsphere
    vm: web01
    socket: /run/vadp/web01.sock
  register: web01_export

- name: Copy the disk out with nbdcopy
  ansible.builtin.command: nbdcopy "{{ web01_export.export.uri }}" /var/tmp/web01.raw
  changed_when: true

- name: Stop the export
  vadp.vsphere.restore_point_export:
    repository: /backups/vsphere
    name: "{{ web01_export.export.name }}"
    state: stopped
'''

RETURN = r'''
export:
  description: The export started, kept or stopped (null when there was nothing to stop).
  returned: always
  type: dict
  sample: {name: 20261201T101500Z-3f9a2c-2000, uri: "nbd+unix:///?socket=/run/vadp/web01.sock", point: 20261201T101500Z-3f9a2c,
           vm: web01, disk: 2000, capacity_bytes: 42949672960, copy_on_write: false, pid: 4242,
           log: /root/.vadp/exports/20261201T101500Z-3f9a2c-2000/nbdkit.log}
exports:
  description: The exports running on this host after the change.
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.point_export import PointExportJob, PointExportOptions
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import VsphereModule, point_disk_argument_spec


class RestorePointExportModule(VsphereModule):
    needs_vcenter = False

    def __init__(self):
        super().__init__(argument_spec=dict(
            **point_disk_argument_spec(repository_required=False),
            name=dict(type="str"),
            state=dict(type="str", default="started", choices=["started", "stopped"]),
            socket=dict(type="path"),
            address=dict(type="str"),
            tls_psk_file=dict(type="path"),
            copy_on_write=dict(type="bool", default=False),
            exports_dir=dict(type="path", default="~/.vadp/exports"),
        ), supports_check_mode=True, required_if=[("state", "stopped", ["name"]), ("state", "started", ["repository"])],
            mutually_exclusive=[("socket", "address")])

    def execute(self, client):
        return PointExportJob(self.options(PointExportOptions)).run(self.module.check_mode)


def main():
    RestorePointExportModule().run()


if __name__ == "__main__":
    main()
