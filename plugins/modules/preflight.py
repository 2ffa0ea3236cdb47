#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: preflight
short_description: Find what would make a backup or restore of a VM fail, before anything changes
description:
  - Checks, for one VM and one job, what a job would otherwise find half way through - after a snapshot was taken
    or a disk half written - and reports each check as C(PASS), C(WARN) or C(FAIL) with one sentence on how to fix it.
  - C(privileges) - every privilege the job needs, on the VM, on vCenter and on each datastore of the VM
    (AuthorizationManager.HasPrivilegeOnEntities for the session's user), each missing one named with its object
    (docs/vsphere-rules.md, "Privileges", lists them with VMware's sources; playbooks/vsphere_roles.yml makes the
    roles).
  - C(vddk) - VMware's VDDK is where the job will look for it, and its version (from its library's name).
  - C(hotadd), when the job's transports include HotAdd - this machine is a VM of this vCenter (VDDK's backup proxy,
    found by this machine's BIOS UUID, see O(bios_uuid)), another than the VM whose disks are read, in the disks'
    datacenter, on a host that sees their datastores.
  - C(nfc), when they include NBD or NBDSSL - each ESXi host involved (the VM's, or the recovery's) answers on TCP
    902, the NFC port NBD and NBDSSL reach, at its management address (vmk0), within 5 seconds.
  - C(tls) - vCenter's certificate is verified; when O(validate_certs) is false, a WARN gives its SHA-256 thumbprint
    to check. C(clock) - vCenter's clock against this machine's (a WARN beyond 60 seconds - points are dated by this
    machine).
  - C(cbt), C(disks) and C(esxi), for a backup - the VM's hardware version (CBT needs 7 or later) and changed block
    tracking (a WARN when it is off, and when it is off while the VM has snapshots), the disks every backup leaves out
    (independent disks, physical-mode RDMs), and the VM's ESXi release against the CBT defects VMware published
    (KB 2136854, KB 2090639).
  - C(repository), with O(repository) - a backup's repository can be made or written (its key given when it is
    encrypted; a file is written and deleted again to prove it, but in check mode), and a folder has room for a
    first backup of the disks (a WARN); a restore's opens, and holds points of the VM. C(leases) - a WARN for a
    prune holding the repository now (the job would wait) and for each stale lease a crashed run left.
  - Any C(FAIL) fails the module with C(PREFLIGHT_FAILED) and every check in the result; it never changes anything.
    The roles backup, full_restore, disaster_recovery and recovery_drill run it first.
version_added: 0.3.0
author:
  - vadp.vsphere team (@vadp)
options:
  job:
    description:
      - The job to check for - C(backup) (the backup role), C(restore) (the full_restore role),
        C(disaster_recovery) (the disaster_recovery role, a new VM from a point) or C(recovery_drill) (the
        recovery_drill role, once per VM of the drill); the last two take O(create).
      - C(backup) and C(restore) need the VM (O(name), O(uuid) or O(moid)).
    type: str
    required: true
    choices: [backup, restore, disaster_recovery, recovery_drill]
  create:
    description:
      - For C(disaster_recovery) and C(recovery_drill), the options vadp.vsphere.vm_create_from_configinfo will be given (V(name),
        V(repository), V(source_vm), V(restore_point), the placement - V(datacenter), V(folder), V(cluster), V(host),
        V(resource_pool), V(datastore), V(datastore_map) - and V(network_map) or V(network)). The preflight follows
        the same plan - it reads the point and resolves the placement - and checks the privileges on the folder, the
        resource pool, the datastores and the networks it names.
      - What the new VM itself will need is checked on its folder (it also inherits from its resource pool, so a
        privilege given only on the pool is reported missing).
    type: dict
  repository:
    description: The repository the job uses - a folder, or V(s3://bucket/prefix); left out, it is not checked.
    type: path
  vddk_libdir:
    description: The root of VMware's VDDK distribution the job will use (the folder that holds lib64); else E(VDDK_LIBDIR).
    type: path
  transport:
    description:
      - The VDDK transports the job will try, colon separated (its C(transport)); the job's default when left out -
        V(hotadd:nbdssl:nbd) for a backup, V(nbdssl:nbd) for the others.
      - With C(nbd) or C(nbdssl) among them, each ESXi host involved must answer on TCP 902 (NFC) - a FAIL unless
        HotAdd can serve (its check passed) or SAN may (a WARN then). With C(hotadd), a HotAdd that cannot serve is a
        FAIL when it is the only transport, else a WARN.
    type: str
  nics_connected:
    description:
      - For C(restore), the job sets the VM's network cards (the full_restore role's C(full_restore_nics_connected)),
        which needs C(VirtualMachine.Config.EditDevice) on the VM. Left out, the cards are not touched and the
        privilege is not asked for.
    type: bool
  bios_uuid:
    description:
      - This machine's BIOS UUID, by which VDDK's HotAdd transport finds the VM this machine is (the backup proxy).
      - Left out, it is read from V(/sys/class/dmi/id/product_uuid), which only root can read and a container may
        not have (an AWX execution environment) - then give it here or in E(VADP_BIOS_UUID), as the machine's
        C(dmidecode -s system-uuid) shows it. Without it the C(hotadd) check is a WARN.
    type: str
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.connection.vm_identity
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
attributes:
  check_mode:
    support: full
    description: The module only reads, so check mode runs the same checks.
notes:
  - Not checked - whether SAN can serve (the LUNs visible from this machine).
seealso:
  - module: vadp.vsphere.authorization_role
'''

EXAMPLES = r'''
- name: Check that the service account can back web01 up into the repository
  vadp.vsphere.preflight:
    name: web01
    job: backup
    repository: /backups/vsphere
  register: preflight

- name: Show the checks
  ansible.builtin.debug:
    msg: "{{ item.status }} {{ item.check }} {{ item.object }}: {{ item.message }}"
  loop: "{{ preflight.checks }}"
'''

RETURN = r'''
checks:
  description:
    - Every check, in order - C(check) (privileges, cbt, disks, repository), C(status) (C(PASS), C(WARN) or
      C(FAIL)), C(object) (what it is about) and C(message) (what was found, and for a WARN or FAIL how to fix it).
    - Also returned, with the other keys, when the module fails with C(PREFLIGHT_FAILED).
  returned: always
  type: list
  elements: dict
  sample: [{check: privileges, status: FAIL, object: VirtualMachine web01,
            message: "backup lacks the privilege VirtualMachine.State.CreateSnapshot on VirtualMachine web01 (...)"}]
missing_privileges:
  description: The privileges the user lacks - C(privilege), C(object), C(object_type), C(moid) and C(why) the job needs it.
  returned: always
  type: list
  elements: dict
  sample: [{privilege: VirtualMachine.State.CreateSnapshot, object: web01, object_type: VirtualMachine, moid: vm-42,
            why: a backup reads the disks through a snapshot}]
job: {description: The job checked., returned: always, type: str, sample: backup}
vm: {description: The VM checked (for C(disaster_recovery) the one to be made)., returned: always, type: str, sample: web01}
user: {description: The vCenter user whose privileges were checked., returned: always, type: str, sample: backup@vsphere.local}
'''

from ansible.module_utils.basic import env_fallback

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.preflight import PreflightJob, PreflightOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.privileges import RECOVERY_JOBS
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    repository_access_argument_spec,
    vm_identity_argument_spec,
)


class PreflightModule(VsphereModule):
    def __init__(self):
        [identity] = VM_IDENTITY_ONE_OF
        super().__init__(argument_spec=dict(
            vm_identity_argument_spec(),
            job=dict(type="str", required=True, choices=["backup", "restore", "disaster_recovery", "recovery_drill"]),
            repository=dict(type="path"),
            create=dict(type="dict"),
            vddk_libdir=dict(type="path", fallback=(env_fallback, ["VDDK_LIBDIR"])),
            transport=dict(type="str"),
            bios_uuid=dict(type="str", fallback=(env_fallback, ["VADP_BIOS_UUID"])),
            nics_connected=dict(type="bool"),
            **repository_access_argument_spec(),
        ), required_if=[("job", "backup", identity, True), ("job", "restore", identity, True),
                        ("job", "disaster_recovery", ("create",)), ("job", "recovery_drill", ("create",))],
            supports_check_mode=True)

    def execute(self, client):
        vm = None if self.params["job"] in RECOVERY_JOBS else self.find_vm(client)
        return PreflightJob(client, vm, self.options(PreflightOptions)).run(self.module.check_mode)


def main():
    PreflightModule().run()


if __name__ == "__main__":
    main()
