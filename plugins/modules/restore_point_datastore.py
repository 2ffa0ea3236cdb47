#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: restore_point_datastore
short_description: Serve a restore point as an NFS datastore that a VM can run from, without restoring it first
description:
  - Starts (O(state=started)) or stops (O(state=stopped)) an NFS export, from the host that runs the module, of a
    folder that holds each disk of a restore point as a VMFS flat disk (a descriptor C(<vm>/<disk>.vmdk) and its
    extent). An ESXi host mounts it as an NFS 4.1 datastore, and a VM registered with those disks runs from the
    point at once - the first step of an instant recovery.
  - Nothing is copied first. Reads come from the repository when the VM first reads a range, each chunk verified.
    Writes go to an overlay file per disk (qcow2) on this host, never to the point. The overlays are the VM's
    new data until it is moved to another datastore; O(state=stopped) deletes them, with everything else the
    datastore holds (the VM's own files too).
  - The chain behind each disk is made of real parts - nbdkit reads the point, qemu-nbd keeps the overlay, nbdfuse
    shows it as a file, and NFS-Ganesha (NFSv4 only, no rpcbind) serves the folder. One Ganesha serves every
    datastore of this host at V(/vadp/<name>), started with the first and stopped with the last.
  - Idempotent by O(name). A datastore whose chain has stopped (its host restarted, a process was killed) is
    served again by the next run with O(state=started), with its overlays and files as they were; C(health) lists
    what is not running.
  - Needs root on this host (Ganesha), and C(nfs-ganesha nfs-ganesha-vfs qemu-utils nbdfuse nbdkit
    nbdkit-plugin-python) (Debian, Ubuntu). Works from the repository alone, without vCenter.
version_added: 0.4.0
author:
  - vadp.vsphere team (@vadp)
options:
  repository:
    description:
      - The repository - a folder, or V(s3://bucket/prefix). Required with O(state=started), with O(vm).
    type: path
    required: false
  name:
    description:
      - The datastore's name, and its NFS path C(/vadp/<name>); by default C(vadp-<point id>). Required with
        O(state=stopped).
      - A name, never a path - no C(/), not C(.) or C(..), at most 200 bytes.
    type: str
  state:
    description: C(started) serves the point; C(stopped) ends the datastore named O(name) and deletes its overlays.
    type: str
    choices: [started, stopped]
    default: started
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.point_disk.point
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
  - vadp.vsphere.repository_lease
  - vadp.vsphere.nfs_datastore
attributes:
  check_mode:
    support: full
    description: Checks the point, its key and the tools, and says what would start or stop.
notes:
  - The repository lease is held while the datastore is served - a prune waits for it or fails with
    C(REPOSITORY_BUSY).
  - Error codes - C(DATASTORE_TOOL_MISSING), C(NFS_SERVER_MISSING), C(NFS_SERVER_FAILED) (Ganesha did not start
    or reload; its log is named), C(NFS_CLIENTS_REQUIRED), C(DATASTORE_NAME_TAKEN), C(DATASTORE_START_FAILED),
    C(EXPORT_FAILED), C(POINT_NOT_FOUND), C(KEY_REQUIRED), C(KEY_WRONG).
seealso:
  - module: vadp.vsphere.restore_point_export
'''

EXAMPLES = r'''
- name: Serve web01's latest point to two ESXi hosts
  vadp.vsphere.restore_point_datastore:
    repository: /backups/vsphere
    vm: web01
    nfs_address: 192.0.2.10
    nfs_clients: [192.0.2.21, 192.0.2.22]
  register: served

- name: Stop serving it (deletes the VM's writes)
  vadp.vsphere.restore_point_datastore:
    name: "{{ served.datastore.name }}"
    state: stopped
'''

RETURN = r'''
datastore:
  description:
    - The datastore started, kept or stopped (null when there was nothing to stop). C(remote_host) and C(remote_path)
      are what C(HostDatastoreSystem.CreateNasDatastore) takes; C(disks[].descriptor) is each disk's path in it.
  returned: always
  type: dict
  sample: {name: vadp-20261201T101500Z-3f9a2c, point: 20261201T101500Z-3f9a2c, vm: web01, remote_host: 192.0.2.10,
           remote_path: /vadp/vadp-20261201T101500Z-3f9a2c, nfs_port: 2049, health: [],
           disks: [{key: 2000, descriptor: web01/web01.vmdk, capacity_bytes: 42949672960,
                    overlay: /root/.vadp/datastores/vadp-20261201T101500Z-3f9a2c/disk-2000.qcow2}]}
datastores:
  description: The point datastores of this host after the change, each with its C(health).
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.point_datastore import PointDatastoreJob, PointDatastoreOptions
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VsphereModule, nfs_datastore_argument_spec, repository_access_argument_spec, repository_lease_argument_spec)


class RestorePointDatastoreModule(VsphereModule):
    needs_vcenter = False

    def __init__(self):
        super().__init__(argument_spec=dict(
            repository=dict(type="path"), vm=dict(type="str"), restore_point=dict(type="str", default="latest"),
            **repository_access_argument_spec(), **repository_lease_argument_spec(),
            name=dict(type="str"),
            state=dict(type="str", default="started", choices=["started", "stopped"]),
            **nfs_datastore_argument_spec(),
        ), supports_check_mode=True, required_if=[("state", "stopped", ["name"]), ("state", "started", ["repository", "vm"])])

    def execute(self, client):
        return PointDatastoreJob(self.options(PointDatastoreOptions)).run(self.module.check_mode)


def main():
    RestorePointDatastoreModule().run()


if __name__ == "__main__":
    main()
