#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: authorization_role
short_description: A vCenter role holding exactly the privileges a job of this collection needs
description:
  - Makes a vCenter role (AuthorizationManager.AddAuthorizationRole) holding the privileges of one job - O(job) - or
    of a list - O(privileges); brings an existing role to that list (UpdateAuthorizationRole); or removes it.
  - Idempotent - a role that holds exactly those privileges is left as it is. vCenter's own system privileges
    (System.Anonymous, System.View, System.Read) are part of every role and never count as a difference.
  - What each job needs, privilege by privilege and on which object, is in docs/vsphere-rules.md ("Privileges"),
    with VMware's sources. Give the role to the service account with a permission on vCenter's root (propagating),
    or on the folders, datastores and VMs the job touches.
  - playbooks/vsphere_roles.yml makes the roles C(vadp-backup), C(vadp-restore), C(vadp-disaster_recovery) and
    C(vadp-recovery_drill).
version_added: 0.3.0
author:
  - vadp.vsphere team (@vadp)
options:
  name:
    description: The role's name.
    type: str
    required: true
  job:
    description:
      - The job whose privileges the role holds - C(backup), C(restore), C(disaster_recovery) or C(recovery_drill)
        (vadp.vsphere.preflight's O(vadp.vsphere.preflight#module:job)).
    type: str
    choices: [backup, restore, disaster_recovery, recovery_drill]
  privileges:
    description: The privileges the role holds, by id (such as C(VirtualMachine.State.CreateSnapshot)), instead of O(job).
    type: list
    elements: str
  state:
    description: C(present) - the role exists with those privileges; C(absent) - it does not (vCenter refuses to remove a role in use).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - vadp.vsphere.connection
attributes:
  check_mode:
    support: full
    description: Returns whether the role would be made, changed or removed; changes nothing.
'''

EXAMPLES = r'''
- name: A role for the backup service account
  vadp.vsphere.authorization_role:
    name: vadp-backup
    job: backup
'''

RETURN = r'''
role:
  description: The role after the run (check mode - as it would be) - C(name), C(id) (null once removed, or in check mode
    for a role not made yet) and C(privileges) (without vCenter's system ones).
  returned: always
  type: dict
  sample: {name: vadp-backup, id: 1001, privileges: [Datastore.Browse, VirtualMachine.State.CreateSnapshot]}
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.authorization import ensure_role
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.privileges import privileges_of
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import VsphereModule


class AuthorizationRoleModule(VsphereModule):
    def __init__(self):
        super().__init__(argument_spec=dict(
            name=dict(type="str", required=True),
            job=dict(type="str", choices=["backup", "restore", "disaster_recovery", "recovery_drill"]),
            privileges=dict(type="list", elements="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ), mutually_exclusive=[("job", "privileges")], required_if=[("state", "present", ("job", "privileges"), True)],
            supports_check_mode=True)

    def execute(self, client):
        p = self.params
        privileges = privileges_of(p["job"]) if p["job"] else p["privileges"]
        return ensure_role(client.content, p["name"], privileges, p["state"] == "present", self.module.check_mode)


def main():
    AuthorizationRoleModule().run()


if __name__ == "__main__":
    main()
