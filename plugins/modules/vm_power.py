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

from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere import power
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.facts import vm_identity
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    vm_identity_argument_spec,
)
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere.tasks import wait_for_task

# state -> power state at the end, from each start
_TARGETS = {
    "powered-on": power.POWERED_ON,
    "powered-off": power.POWERED_OFF,
    "shutdown-guest": power.POWERED_OFF,
    "restarted": power.POWERED_ON,
    "reboot-guest": power.POWERED_ON,
    "suspended": power.SUSPENDED,
}


class VmPowerModule(VsphereModule):
    def __init__(self):
        spec = vm_identity_argument_spec()
        spec.update(
            state=dict(type="str", required=True, choices=sorted(_TARGETS)),
            timeout=dict(type="int", default=300),
            force_after_timeout=dict(type="bool", default=False),
            wait_for_tools=dict(type="bool", default=False),
            answer_questions=dict(type="dict", default=dict(power.DEFAULT_ANSWERS)),
        )
        super().__init__(argument_spec=spec, required_one_of=VM_IDENTITY_ONE_OF,
                         supports_check_mode=True)

    def execute(self, client):
        vm = self.find_vm(client)
        state = self.params["state"]
        before = vm.runtime.powerState
        self._refuse_impossible(vm, state, before)
        result = {"vm": vm_identity(vm), "power_state_before": before, "forced": None, "answered_questions": []}
        always_acts = state in ("restarted", "reboot-guest")
        result["changed"] = always_acts or before != _TARGETS[state]
        if self.module.check_mode:
            result["power_state"] = _TARGETS[state] if result["changed"] else before
            return result
        if result["changed"]:
            self._act(vm, state, before, result)
        if self.params["wait_for_tools"] and _TARGETS[state] == power.POWERED_ON:
            result["tools_seconds"] = power.wait_for_tools(vm, self.params["timeout"])
        result["power_state"] = vm.runtime.powerState
        return result

    @staticmethod
    def _refuse_impossible(vm, state, current):
        if state == "suspended" and current == power.POWERED_OFF:
            power.refuse(vm, state, current, "Power it on first.")
        if state == "shutdown-guest" and current == power.SUSPENDED:
            power.refuse(vm, state, current, "A suspended guest cannot shut down: use state powered-off.")
        if state == "reboot-guest" and current != power.POWERED_ON:
            power.refuse(vm, state, current, "Only a running guest can reboot: use state powered-on.")

    def _act(self, vm, state, before, result):
        p = self.params
        timeout, force = p["timeout"], p["force_after_timeout"]
        if state in ("powered-on", "restarted") and before != power.POWERED_ON:
            result["answered_questions"] = power.power_on(vm, p["answer_questions"], timeout)
        elif state == "restarted":
            wait_for_task(vm.ResetVM_Task(), timeout=timeout)
        elif state == "powered-off":
            wait_for_task(vm.PowerOffVM_Task(), timeout=timeout)
        elif state == "shutdown-guest":
            result["forced"] = power.shutdown_guest(vm, timeout, force)
        elif state == "reboot-guest":
            result["forced"] = power.reboot_guest(vm, timeout, force)
        elif state == "suspended":
            wait_for_task(vm.SuspendVM_Task(), timeout=timeout)


def main():
    VmPowerModule().run()


if __name__ == "__main__":
    main()
