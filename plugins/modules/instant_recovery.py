#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: instant_recovery
short_description: Run a VM from its restore point in minutes, before any copy is made, or discard it
description:
  - With O(state=running) - serves the point as an NFS datastore from the host that runs the module
    (M(vadp.vsphere.restore_point_datastore)), mounts it on O(host) as an NFS 4.1 datastore named C(vadp-<name>),
    creates the VM O(name) from the point's saved configuration with the served disks as its disks (the rules of
    M(vadp.vsphere.vm_create_from_configinfo) - a new instance uuid unless asked, networks mapped, RDMs left out),
    powers it on and waits for VMware Tools.
  - Reads come from the repository on demand; the VM's writes go to an overlay on this host, never to the point.
    They stay there until the VM is moved to production storage (Storage vMotion) - or are deleted by a discard.
  - With O(state=moved) - moves the running VM to the production datastore O(datastore) of its host (Storage vMotion,
    C(RelocateVM_Task)); the VM keeps running and its overlay's writes go with it. Once no file of the VM is left on
    C(vadp-<name>), the datastore is unmounted from every host, no longer served, and its overlays deleted. A move
    that fails or outlasts O(move_timeout) leaves the VM running from C(vadp-<name>) with all its writes, and the
    datastore as it was (C(MOVE_FAILED)); a re-run moves it then. A VM moved by hand only has the datastore released.
  - With O(state=absent) - discards it all, each step only if it is still there - powers the VM off and
    unregisters it (its disks are the served files), unmounts the datastore from every host, stops serving it
    and deletes its overlays. A VM of that name that does not run from the datastore C(vadp-<name>), or has no
    recovery mark, is refused and left untouched.
  - Idempotent - a re-run finds what an earlier run made (a served datastore, a mount, the VM) and goes on from
    there; a datastore whose chain stopped (a killed NFS server, say) is served again with its writes, and the run
    waits for the guest's heartbeat to be green again. In check mode it reports the VM's heartbeat as it is now
    (red while its datastore is lost).
  - Needs what M(vadp.vsphere.restore_point_datastore) needs on this host (root, NFS-Ganesha, qemu-nbd, nbdfuse,
    nbdkit), and each ESXi host must reach O(nfs_address) on TCP port 2049. See docs/instant-recovery.md.
version_added: 0.4.0
author:
  - vadp.vsphere team (@vadp)
options:
  name:
    description: The recovered VM's name; its datastore is C(vadp-<name>).
    type: str
    required: true
  state:
    description:
      - C(running) recovers and starts the VM; C(moved) moves it to O(datastore) while it runs and releases the point;
        C(absent) discards it and everything it ran from.
    type: str
    choices: [running, moved, absent]
    default: running
  datastore:
    description: The production datastore the VM moves to (mounted on the VM's host). Required with O(state=moved).
    type: str
  state_dir:
    description:
      - With O(state=moved), a folder where the move's progress is written as it runs (vCenter's task, as bytes of the
        VM's disks), for M(vadp.vsphere.transfer_status) to follow while the module runs with C(async).
    type: path
  move_timeout:
    description:
      - Seconds the move may take (it copies every byte of the VM's disks from the point, read on demand). When it
        runs longer, the module stops waiting but vCenter's task goes on; run again once it has ended.
    type: int
    default: 86400
  repository:
    description: The repository - a folder, or V(s3://bucket/prefix). Required with O(state=running).
    type: path
  source_vm:
    description: The backed-up VM (its name at backup time or its instance uuid). Required with O(state=running).
    type: str
  restore_point:
    description:
      - The point - an id, C(latest), C(clean) (the newest neither marked suspicious nor found infected by its last
        scan), or an ISO 8601 time meaning the last point at or before it.
    type: str
    default: latest
  datacenter:
    description: The datacenter; may be left out when there is only one.
    type: str
  folder:
    description: The VM folder, as an inventory path or relative to the datacenter's VM folder.
    type: str
  host:
    description: The ESXi host that mounts the datastore and runs the VM. Required with O(state=running).
    type: str
  network_map:
    description: Source network name (or distributed port group key) to target network name.
    type: dict
  network:
    description: Every network card on this network, whatever its source's.
    type: str
  nics_connected:
    description: False starts every network card disconnected (a point that may hold malware).
    type: bool
    default: true
  instance_uuid:
    description: C(new) gives the VM a new instance uuid; C(keep) keeps the source's (its original is gone).
    type: str
    choices: [keep, new]
    default: new
  bios_uuid:
    description: C(keep) keeps the source's BIOS uuid (licences bound to it keep working); C(new) lets vCenter choose.
    type: str
    choices: [keep, new]
    default: keep
  timeout:
    description: Seconds each vCenter task, the power-on and the start of VMware Tools may take.
    type: int
    default: 600
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
  - vadp.vsphere.repository_lease
  - vadp.vsphere.nfs_datastore
attributes:
  check_mode:
    support: partial
    description: Says what would be done.
    details: Checks the point, the tools and the placement; it does not try the mount.
notes:
  - Error codes - those of M(vadp.vsphere.restore_point_datastore) and M(vadp.vsphere.vm_create_from_configinfo),
    C(NFS_MOUNT_FAILED) (the host could not mount the datastore; vCenter's message is given), C(TOOLS_NOT_RUNNING)
    (the guest did not start VMware Tools in time; the VM is left running for a look at its console),
    C(HEARTBEAT_LOST) (Tools run but the guest heartbeat did not turn green in time).
  - C(MOVE_FAILED) - the move failed or outlasted O(move_timeout); the VM runs on from C(vadp-<name>) with its writes.
  - The move's progress shows on its vCenter task (Relocate virtual machine, in Recent Tasks), and with O(state_dir) in
    M(vadp.vsphere.transfer_status) (the role vadp.vsphere.instant_recovery follows it).
seealso:
  - module: vadp.vsphere.restore_point_datastore
  - module: vadp.vsphere.vm_create_from_configinfo
'''

EXAMPLES = r'''
- name: Run web01 from its latest point on esxi-01, served from this backup host
  vadp.vsphere.instant_recovery:
    name: web01-instant
    repository: /backups/vsphere
    source_vm: web01
    host: esxi-01.example.com
    nfs_address: 192.0.2.10
    nfs_clients: [192.0.2.21]
  register: instant

- name: Keep it - move it to production storage while it runs, then release the point
  vadp.vsphere.instant_recovery:
    name: web01-instant
    state: moved
    datastore: prod-ds-01

- name: Or discard it (the VM's writes are lost)
  vadp.vsphere.instant_recovery:
    name: web01-instant
    state: absent
'''

RETURN = r'''
vm:
  description: The running VM (null after a discard).
  returned: always
  type: dict
  sample: {name: web01-instant, moid: vm-123, uuid: 4210b6a1-7c1e-3a5f-9e0d-2f6f1a7b8c9d}
ip_address:
  description: The guest's IP address as VMware Tools report it.
  returned: when the VM runs
  type: str
heartbeat:
  description: The guest heartbeat vCenter shows (green when the run ends; in check mode, as it is now).
  returned: with O(state=running)
  type: str
  sample: green
tools_seconds:
  description: Seconds from the power-on check to VMware Tools running.
  returned: when the VM runs
  type: float
datastore:
  description: The served datastore (M(vadp.vsphere.restore_point_datastore)'s record), with C(vcenter_name) once mounted.
  returned: always
  type: dict
move_seconds:
  description: How long the move took (null when no move was needed).
  returned: with O(state=moved)
  type: float
steps:
  description: What this run did, in order (empty when everything was already as asked).
  returned: always
  type: list
  elements: str
notes:
  description: What the VM's creation noted (as M(vadp.vsphere.vm_create_from_configinfo) returns them).
  returned: when the VM runs
  type: list
  elements: str
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.instant import InstantOptions, InstantRecovery
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VsphereModule, nfs_datastore_argument_spec, repository_access_argument_spec, repository_lease_argument_spec)


class InstantRecoveryModule(VsphereModule):
    def __init__(self):
        super().__init__(argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="running", choices=["running", "moved", "absent"]),
            repository=dict(type="path"), source_vm=dict(type="str"), restore_point=dict(type="str", default="latest"),
            datacenter=dict(type="str"), folder=dict(type="str"), host=dict(type="str"),
            network_map=dict(type="dict"), network=dict(type="str"), nics_connected=dict(type="bool", default=True),
            instance_uuid=dict(type="str", default="new", choices=["keep", "new"]),
            bios_uuid=dict(type="str", default="keep", choices=["keep", "new"]),
            timeout=dict(type="int", default=600), datastore=dict(type="str"), move_timeout=dict(type="int", default=86400),
            state_dir=dict(type="path"),
            **repository_access_argument_spec(), **repository_lease_argument_spec(), **nfs_datastore_argument_spec(),
        ), supports_check_mode=True, required_if=[("state", "running", ["repository", "source_vm", "host"]),
                                                  ("state", "moved", ["datastore"])],
            mutually_exclusive=[["network", "network_map"]])

    def execute(self, client):
        return InstantRecovery(client, self.options(InstantOptions), self.module.warn).run(self.module.check_mode)


def main():
    InstantRecoveryModule().run()


if __name__ == "__main__":
    main()
