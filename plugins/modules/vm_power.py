#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: vm_power
short_description: Power a VM on, off or through its guest, and wait until it is so
description:
  - Brings a VM to a power state and returns only when it is there. A restore powers the VM off
    before writing its disks and on afterwards.
  - O(state=shutdown-guest) asks the guest to shut down through VMware Tools and waits until the
    VM is really off, up to O(timeout); with O(force_after_timeout) it then powers off hard and
    says so in RV(forced).
  - On the way to powered on, vSphere may ask a question (after a restore, whether the VM was
    moved or copied). Questions whose message id is in O(answer_questions) are answered; any other
    question stops the module with the question, its message id and its choices.
  - Idempotent for C(powered-on), C(powered-off), C(shutdown-guest) and C(suspended). C(restarted)
    and C(reboot-guest) are actions and restart the VM at every run.
  - Check mode reads the VM and reports what would change; it never touches the VM.
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options:
  state:
    description:
      - C(powered-on), C(powered-off) (hard, like pulling the plug), C(shutdown-guest) (through
        VMware Tools), C(restarted) (hard reset; powers on a VM that is off), C(reboot-guest)
        (through VMware Tools), C(suspended).
    type: str
    required: true
    choices: [powered-on, powered-off, shutdown-guest, restarted, reboot-guest, suspended]
  timeout:
    description:
      - Seconds to wait for the power task, or for the guest to shut down. A task still running
        then is reported with its key; it is not cancelled.
    type: int
    default: 300
  force_after_timeout:
    description:
      - For C(shutdown-guest) and C(reboot-guest) - when VMware Tools is not running, or the guest
        has not shut down within O(timeout), power off (or reset) hard instead of failing.
    type: bool
    default: false
  wait_for_tools:
    description:
      - For C(powered-on), C(restarted) and C(reboot-guest) - return only once VMware Tools runs in the guest (a boot
        check), failing with error_code C(TOOLS_NOT_RUNNING) after O(timeout). Also checked when the VM was on already.
    type: bool
    default: false
  nics_connected:
    description:
      - Before the power state is applied, connect every network card of the VM (at power-on, now if it runs, and
        the guest may change it), or with false disconnect every one (and its guest cannot connect it) - a VM
        restored from a point that may hold malware then boots isolated. Left out, the cards stay as they are.
    type: bool
  answer_questions:
    description:
      - Answers to questions vSphere asks while the VM powers on, by message id. An answer is the
        label of a choice (case and underscores ignored, so C(I moved it) matches C(I _Moved It)) or
        its key.
      - The default answers the question that follows a restore, C(msg.uuid.altered), with
        C(I moved it), which keeps the VM's BIOS uuid and MAC addresses, right for a VM restored in
        place. Use C(I copied it) for a copy that runs next to the original.
    type: dict
    default: {msg.uuid.altered: I moved it}
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.connection.vm_identity
attributes:
  check_mode:
    support: full
    description: Reports what would change without touching the VM.
'''

EXAMPLES = r'''
- name: Shut the guest down before a restore, hard after 5 minutes
  vadp.vsphere.vm_power:
    name: web01
    state: shutdown-guest
    timeout: 300
    force_after_timeout: true

- name: Power the restored VM on, saying it was moved (keeps its uuid and MACs)
  vadp.vsphere.vm_power:
    moid: vm-42
    state: powered-on
    answer_questions:
      msg.uuid.altered: I moved it
  register: power

- name: Show what was answered
  ansible.builtin.debug:
    var: power.answered_questions
'''

RETURN = r'''
nics_changed:
  description: The network cards O(nics_connected) changed (their labels); empty when they were so already, or it was not given.
  returned: always
  type: list
  elements: str
  sample: [Network adapter 1]
vm:
  description: The VM.
  returned: always
  type: dict
  contains:
    name: {description: Name., type: str, sample: web01}
    moid: {description: Managed object id., type: str, sample: vm-42}
    uuid: {description: BIOS uuid., type: str, sample: 4203e2c8-1d4c-7a3e-2a7f-9c2a1d3e4f50}
power_state_before:
  description: The power state found (C(poweredOn), C(poweredOff), C(suspended)).
  returned: always
  type: str
  sample: poweredOn
power_state:
  description: The power state at the end (in check mode, the one the run would reach).
  returned: always
  type: str
  sample: poweredOff
forced:
  description: Why the module powered off or reset hard instead of going through the guest, or null.
  returned: always
  type: str
  sample: the guest did not shut down within 300 s - powered off hard
tools_seconds:
  description: With O(wait_for_tools), the seconds until VMware Tools ran in the guest.
  returned: when wait_for_tools is true and the VM ends powered on
  type: float
  sample: 42.0
answered_questions:
  description: The questions answered on the way, with the answer given.
  returned: always
  type: list
  elements: dict
  sample: [{message_id: msg.uuid.altered, answer: i moved it}]
question:
  description: On error_code C(QUESTION_PENDING), the question that no answer covered.
  returned: on failure
  type: dict
  sample: {id: _vmx1, text: This virtual machine might have been moved or copied., message_ids: [msg.uuid.altered],
           choices: [{key: "0", label: cancel}, {key: "1", label: i moved it}, {key: "2", label: i copied it}]}
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere import power
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.nics import set_nics_connected
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.facts import vm_identity
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    vm_identity_argument_spec,
)


class VmPowerModule(VsphereModule):
    def __init__(self):
        spec = vm_identity_argument_spec()
        spec.update(
            state=dict(type="str", required=True, choices=sorted(power.TARGETS)),
            timeout=dict(type="int", default=300),
            force_after_timeout=dict(type="bool", default=False),
            wait_for_tools=dict(type="bool", default=False),
            answer_questions=dict(type="dict", default=dict(power.DEFAULT_ANSWERS)),
            nics_connected=dict(type="bool"),
        )
        super().__init__(argument_spec=spec, required_one_of=VM_IDENTITY_ONE_OF,
                         supports_check_mode=True)

    def execute(self, client):
        vm = self.find_vm(client)
        p = self.params
        cards = []
        if p["nics_connected"] is not None:  # before a power-on, so that the VM never runs connected
            cards = set_nics_connected(vm, p["nics_connected"], p["timeout"], self.module.check_mode)
        done = power.set_power_state(vm, p["state"], p["timeout"], p["force_after_timeout"], p["wait_for_tools"],
                                     p["answer_questions"], self.module.check_mode)
        return dict(done, vm=vm_identity(vm), nics_changed=cards, changed=done["changed"] or bool(cards))


def main():
    VmPowerModule().run()


if __name__ == "__main__":
    main()
