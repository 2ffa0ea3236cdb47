#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: vm_cbt
short_description: Enable, disable or reset a VM's changed block tracking (CBT)
description:
  - Incremental backups ask CBT which areas changed since the last backup; after a restore CBT
    misreports and must be reset, and the next backup must be a full one.
  - vSphere applies a change of C(changeTrackingEnabled) only at the VM's next stun. The module
    reconfigures the VM and then takes and removes a temporary snapshot, so CBT is really on (every
    disk has a change id) or off when it returns.
  - O(state=reset) turns CBT off and on again; every change id from before is void afterwards.
  - Idempotent for C(enabled) and C(disabled), judged by the effective state (the disks' change
    ids), not only by the configuration flag. Check mode reports what would change.
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options:
  state:
    description: C(enabled), C(disabled), or C(reset) (off, then on; always changes).
    type: str
    required: true
    choices: [enabled, disabled, reset]
  timeout:
    description: Seconds to wait for each reconfigure and snapshot task.
    type: int
    default: 600
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.connection.vm_identity
attributes:
  check_mode:
    support: full
    description: Reports what would change without touching the VM.
'''

EXAMPLES = r'''
- name: Make sure CBT is on before the first backup
  vadp.vsphere.vm_cbt:
    name: web01
    state: enabled

- name: After a restore, reset CBT (the next backup must be a full)
  vadp.vsphere.vm_cbt:
    name: web01
    state: reset
'''

RETURN = r'''
vm:
  description: The VM.
  returned: always
  type: dict
  contains:
    name: {description: Name., type: str, sample: web01}
    moid: {description: Managed object id., type: str, sample: vm-42}
    uuid: {description: BIOS uuid., type: str, sample: 4203e2c8-1d4c-7a3e-2a7f-9c2a1d3e4f50}
cbt_enabled:
  description: Whether CBT is in effect at the end (in check mode, whether it would be).
  returned: always
  type: bool
  sample: true
disks:
  description: Each disk's key, label and CBT change id (null when CBT is off).
  returned: always
  type: list
  elements: dict
  sample: [{key: 2000, label: Hard disk 1, change_id: "52 de c0 d9 9b 49 0b 06-8c 52 1d 3e 2a 7f 4b 10/1"}]
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere import cbt
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import disks_of, vm_identity
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    vm_identity_argument_spec,
)


class VmCbtModule(VsphereModule):
    def __init__(self):
        spec = vm_identity_argument_spec()
        spec.update(state=dict(type="str", required=True, choices=["enabled", "disabled", "reset"]),
                    timeout=dict(type="int", default=600))
        super().__init__(argument_spec=spec, required_one_of=VM_IDENTITY_ONE_OF,
                         supports_check_mode=True)

    def execute(self, client):
        vm = self.find_vm(client)
        state = self.params["state"]
        fully_on, partly_on = cbt.effective(vm)
        wanted = state != "disabled"
        changed = state == "reset" or (fully_on != wanted if wanted else partly_on)
        if changed and not self.module.check_mode:
            if state == "reset":
                cbt.reset(vm, self.params["timeout"])
            else:
                cbt.apply(vm, wanted, self.params["timeout"])
        return {"changed": changed, "vm": vm_identity(vm),
                "cbt_enabled": wanted if changed and self.module.check_mode else cbt.effective(vm)[0],
                "disks": [{"key": d["key"], "label": d["label"], "change_id": d["change_id"]} for d in disks_of(vm.config)]}


def main():
    VmCbtModule().run()


if __name__ == "__main__":
    main()
