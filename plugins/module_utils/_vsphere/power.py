# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Power operations that wait for the result they promise: a guest shutdown returns when the VM
is off, a power-on answers the questions vSphere asks on the way (uuid.altered after a restore)
or stops with the question shown. No Ansible imports.
"""

import time

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import (
    HeartbeatLostError,
    InvalidPowerStateError,
    InvalidSettingsError,
    QuestionPendingError,
    ShutdownTimeoutError,
    ToolsNotRunningError,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import wait_for_task

# After a restore vSphere asks whether the VM was moved or copied. An in-place restore is the
# same VM, so "moved" keeps its BIOS uuid and MAC addresses; a copy would get new ones.
DEFAULT_ANSWERS = {"msg.uuid.altered": "I moved it"}

POWERED_ON, POWERED_OFF, SUSPENDED = "poweredOn", "poweredOff", "suspended"


def _plain(label):
    return (label or "").replace("_", "").strip().lower()


def describe_question(question):
    choices = ", ".join("%s (%s)" % (_plain(c.label) or c.key, c.key) for c in question.choice.choiceInfo)
    ids = ", ".join(m.id for m in question.message or []) or "none"
    return "%s [message id: %s; choices: %s]" % (" ".join(question.text.split()), ids, choices)


def choose_answer(question, answers):
    """(choice key, message id) for the first message of the question that ``answers`` covers
    (by message id; the answer is a choice's label or key), or None."""
    for message in question.message or []:
        wanted = answers.get(message.id)
        if wanted is None:
            continue
        for choice in question.choice.choiceInfo:
            if str(wanted) == choice.key or _plain(str(wanted)) == _plain(choice.label):
                return choice.key, message.id
        raise InvalidSettingsError("answer_questions gives %r for %s, which is not one of its choices: %s" % (
            wanted, message.id, describe_question(question)))
    return None


class QuestionAnswerer:
    """Answers the VM's pending question during a task, or raises QuestionPendingError."""

    def __init__(self, vm, answers):
        self.vm = vm
        self.answers = answers
        self.answered = []

    def __call__(self):
        question = self.vm.runtime.question
        if question is None:
            return
        choice = choose_answer(question, self.answers)
        if choice is None:
            raise QuestionPendingError(
                "%s is waiting for an answer before it can go on: %s. Answer it with answer_questions "
                "(message id: choice), or in the vSphere client." % (self.vm.name, describe_question(question)),
                details={"question": {"id": question.id, "text": question.text,
                                      "message_ids": [m.id for m in question.message or []],
                                      "choices": [{"key": c.key, "label": _plain(c.label)}
                                                  for c in question.choice.choiceInfo]}})
        key, message_id = choice
        self.vm.AnswerVM(question.id, key)
        label = [_plain(c.label) for c in question.choice.choiceInfo if c.key == key][0]
        self.answered.append({"message_id": message_id, "answer": label})


def power_on(vm, answers, timeout):
    """Power on and answer questions on the way; returns the answers given."""
    answerer = QuestionAnswerer(vm, answers)
    if vm.runtime.question is not None:  # an earlier power-on still waits for its answer
        answerer()
        if wait_for_power_state(vm, POWERED_ON, timeout):
            return answerer.answered
    wait_for_task(vm.PowerOnVM_Task(), timeout=timeout, on_poll=answerer)
    return answerer.answered


def tools_running(vm):
    return vm.guest is not None and vm.guest.toolsRunningStatus == "guestToolsRunning"


def wait_for_power_state(vm, wanted, timeout, clock=time.monotonic, sleep=time.sleep):
    """Wait until the VM reports ``wanted``; False when the timeout came first."""
    deadline = clock() + timeout
    while vm.runtime.powerState != wanted:
        if clock() >= deadline:
            return False
        sleep(1)
    return True


def shutdown_guest(vm, timeout, force_after_timeout):
    """Shut the guest down through VMware Tools and return only when the VM is off.

    Returns a reason string when it had to power off hard (force_after_timeout), else None.
    """
    if not tools_running(vm):
        if not force_after_timeout:
            raise ToolsNotRunningError(
                "VMware Tools is not running in %s, so its guest cannot be shut down gracefully. Use state "
                "powered-off for a hard power-off, or set force_after_timeout to fall back to one." % vm.name)
        wait_for_task(vm.PowerOffVM_Task(), timeout=timeout)
        return "VMware Tools is not running in the guest: powered off hard"
    vm.ShutdownGuest()
    if wait_for_power_state(vm, POWERED_OFF, timeout):
        return None
    if not force_after_timeout:
        raise ShutdownTimeoutError(
            "The guest of %s did not shut down within %s s and is still %s; the shutdown may still finish. "
            "Raise timeout, or set force_after_timeout to power off hard after it." % (vm.name, timeout, vm.runtime.powerState))
    wait_for_task(vm.PowerOffVM_Task(), timeout=timeout)
    return "the guest did not shut down within %s s: powered off hard" % timeout


# A guest that shows no sign of restarting within this long is taken to have restarted fast.
REBOOT_SIGN_SECONDS = 30


def wait_for_guest_restart(vm, timeout, clock=time.monotonic, sleep=time.sleep):
    """After RebootGuest: wait for VMware Tools to go down and come back up."""
    start = clock()
    seen_down = False
    while True:
        running = tools_running(vm)
        seen_down = seen_down or not running
        elapsed = clock() - start
        if running and (seen_down or elapsed >= min(REBOOT_SIGN_SECONDS, timeout)):
            return
        if elapsed >= timeout:
            raise ShutdownTimeoutError("The guest of %s did not come back with VMware Tools running within %s s "
                                       "of the reboot; it may still be starting." % (vm.name, timeout))
        sleep(1)


def wait_for_tools(vm, timeout, clock=time.monotonic, sleep=time.sleep):
    """Seconds until VMware Tools ran in the guest (the guest booted), or ToolsNotRunningError."""
    start = clock()
    while not tools_running(vm):
        if clock() - start >= timeout:
            raise ToolsNotRunningError("VMware Tools did not start in %s within %s s of power-on: the guest may not boot "
                                       "(open its console), or has no Tools installed." % (vm.name, timeout))
        sleep(1)
    return round(clock() - start, 1)


def wait_for_heartbeat(vm, timeout, clock=time.monotonic, sleep=time.sleep):
    """Return once vCenter shows the guest's heartbeat green, or HeartbeatLostError (red: the
    guest stopped answering, as when its datastore is lost)."""
    start = clock()
    while vm.guestHeartbeatStatus != "green":
        if clock() - start >= timeout:
            raise HeartbeatLostError("the guest heartbeat of %s is %s, not green, after %s s: the guest does not answer "
                                     "(a lost datastore hangs its I/O; open its console)" % (
                                         vm.name, vm.guestHeartbeatStatus, timeout))
        sleep(1)


def reboot_guest(vm, timeout, force_after_timeout):
    """Restart the guest through VMware Tools and return when it runs again (a hard reset
    without Tools, if allowed)."""
    if tools_running(vm):
        vm.RebootGuest()
        wait_for_guest_restart(vm, timeout)
        return None
    if not force_after_timeout:
        raise ToolsNotRunningError(
            "VMware Tools is not running in %s, so its guest cannot be rebooted gracefully. Use state restarted "
            "for a hard reset, or set force_after_timeout to fall back to one." % vm.name)
    wait_for_task(vm.ResetVM_Task(), timeout=timeout)
    return "VMware Tools is not running in the guest: reset hard"


def refuse(vm, state, current, hint):
    raise InvalidPowerStateError("%s is %s: %s cannot be done from that state. %s" % (vm.name, current, state, hint))


# A requested state -> the power state it ends in, from any start
TARGETS = {
    "powered-on": POWERED_ON,
    "powered-off": POWERED_OFF,
    "shutdown-guest": POWERED_OFF,
    "restarted": POWERED_ON,
    "reboot-guest": POWERED_ON,
    "suspended": SUSPENDED,
}


def _refuse_impossible(vm, state, current):
    if state == "suspended" and current == POWERED_OFF:
        refuse(vm, state, current, "Power it on first.")
    if state == "shutdown-guest" and current == SUSPENDED:
        refuse(vm, state, current, "A suspended guest cannot shut down: use state powered-off.")
    if state == "reboot-guest" and current != POWERED_ON:
        refuse(vm, state, current, "Only a running guest can reboot: use state powered-on.")


def set_power_state(vm, state, timeout, force_after_timeout=False, wait_for_tools_start=False, answers=None,
                    check_mode=False):
    """Bring vm to state (a TARGETS key) and return what was done: power state before and after,
    whether it changed, a forced fallback, the questions answered; refused before anything is done
    where the state cannot be reached from the current one."""
    before = vm.runtime.powerState
    _refuse_impossible(vm, state, before)
    result = {"power_state_before": before, "forced": None, "answered_questions": [],
              "changed": state in ("restarted", "reboot-guest") or before != TARGETS[state]}
    if check_mode:
        result["power_state"] = TARGETS[state] if result["changed"] else before
        return result
    if result["changed"]:
        if state in ("powered-on", "restarted") and before != POWERED_ON:
            result["answered_questions"] = power_on(vm, DEFAULT_ANSWERS if answers is None else answers, timeout)
        elif state == "restarted":
            wait_for_task(vm.ResetVM_Task(), timeout=timeout)
        elif state == "powered-off":
            wait_for_task(vm.PowerOffVM_Task(), timeout=timeout)
        elif state == "shutdown-guest":
            result["forced"] = shutdown_guest(vm, timeout, force_after_timeout)
        elif state == "reboot-guest":
            result["forced"] = reboot_guest(vm, timeout, force_after_timeout)
        elif state == "suspended":
            wait_for_task(vm.SuspendVM_Task(), timeout=timeout)
    if wait_for_tools_start and TARGETS[state] == POWERED_ON:
        result["tools_seconds"] = wait_for_tools(vm, timeout)
    result["power_state"] = vm.runtime.powerState
    return result
