#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: restore_point
short_description: Protect, unprotect or delete one restore point
description:
  - Protects one point (O(protected=true) - vadp.vsphere.repository_prune never removes it and deletion
    is refused) or removes the protection, or deletes the point (O(state=absent)).
  - Deleting a point never breaks another - every point is a logical full. With O(gc) the chunks no
    remaining point references are deleted too.
  - A deletion holds the repository's exclusive lease (it waits for running backups and restores, up
    to O(lock_timeout)); a change of protection holds a shared one, so a prune never decides on a point
    while its protection changes.
  - Works from the repository alone, without vCenter.
version_added: 0.2.0
author:
  - vadp.vsphere team (@vadp)
options:
  repository:
    description: The repository's folder, or V(s3://bucket/prefix) for one in object storage (O(s3)).
    type: path
    required: true
  vm:
    description: The backed-up VM (its name at backup time or its instance uuid).
    type: str
    required: true
  restore_point:
    description:
      - The point - an id, C(latest), C(clean) (the newest neither marked suspicious nor found infected), or an ISO
        8601 time meaning the last point at or before it.
      - With O(state=absent), only an id - C(latest) or a time selects another point as backups come and go, so a
        deletion by them is refused with C(INVALID_ARGUMENT), naming the point they select today.
    type: str
    required: true
  state:
    description:
      - C(present) keeps the point (and sets O(protected) when given); C(absent) deletes it.
      - C(absent) for a point id that is gone already changes nothing (RV(point) is null).
    type: str
    choices: [present, absent]
    default: present
  protected:
    description: Protect (true) or unprotect (false) the point; unset leaves it as it is.
    type: bool
  gc:
    description: After a deletion, delete the chunks no remaining point references.
    type: bool
    default: true
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
  - vadp.vsphere.repository_lease
attributes:
  check_mode:
    support: full
    description: Says what would change; takes no lease.
notes:
  - Deleting a protected point fails with C(POINT_PROTECTED) and changes nothing.
seealso:
  - module: vadp.vsphere.repository_prune
  - module: vadp.vsphere.restore_point_info
'''

EXAMPLES = r'''
- name: Keep the point before the upgrade whatever the retention policy says
  vadp.vsphere.restore_point:
    repository: /backups/vsphere
    vm: web01
    restore_point: "2026-11-30T22:00:00Z"
    protected: true

- name: Delete a point taken by mistake
  vadp.vsphere.restore_point:
    repository: /backups/vsphere
    vm: web01
    restore_point: 20261201T101500Z-3f9a2c
    state: absent
'''

RETURN = r'''
point:
  description: The point, and whether it is protected (after the change); null when O(state=absent) found it gone already.
  returned: success
  type: dict
  sample: {id: 20261201T101500Z-3f9a2c, time: "2026-12-01T10:15:00Z", vm: web01,
           instance_uuid: 5003c1c4-1d4c-7a3e-2a7f-9c2a1d3e4f50, protected: true}
state:
  description: C(present) or C(absent) (deleted; in check mode - would be).
  returned: success
  type: str
gc:
  description:
    - What garbage collection removed after a deletion (as vadp.vsphere.repository_prune returns it).
    - Null when a point of the repository cannot be read - its chunks cannot be told from garbage, so none are removed
      (a warning names it).
  returned: when a point was deleted with gc true
  type: dict
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.restore_point import RestorePointJob, RestorePointOptions
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VsphereModule,
    repository_access_argument_spec,
    repository_lease_argument_spec,
)


class RestorePointModule(VsphereModule):
    needs_vcenter = False

    def __init__(self):
        super().__init__(argument_spec=dict(
            repository=dict(type="path", required=True),
            **repository_access_argument_spec(),
            **repository_lease_argument_spec(),
            vm=dict(type="str", required=True),
            restore_point=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            protected=dict(type="bool"),
            gc=dict(type="bool", default=True),
        ), supports_check_mode=True)

    def execute(self, client):
        return RestorePointJob(self.options(RestorePointOptions), warn=self.module.warn).run(self.module.check_mode)


def main():
    RestorePointModule().run()


if __name__ == "__main__":
    main()
