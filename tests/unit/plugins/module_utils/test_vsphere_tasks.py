"""Task waiting and fault descriptions, on real pyVmomi fault objects and a scripted task; the wait
for a guest heartbeat on a scripted VM."""
from types import SimpleNamespace

import pytest
from pyVmomi import vim, vmodl

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import HeartbeatLostError, TaskFailedError, TaskTimeoutError
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.power import wait_for_heartbeat
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import describe_fault, wait_for_task


def test_describe_fault_reads_like_a_sentence():
    fault = vim.fault.InvalidPowerState(
        msg="The attempted operation cannot be performed in the current state (Powered on).",
        requestedState="poweredOff", existingState="poweredOn",
        faultMessage=[vmodl.LocalizableMessage(key="msg.power", message="The VM is running.")])
    text = describe_fault(fault)
    assert text.startswith("InvalidPowerState: The attempted operation cannot be performed")
    assert "The VM is running." in text
    assert "existingState=poweredOn" in text and "requestedState=poweredOff" in text
    assert "(vim.fault" not in text and "'" not in text.split(":", maxsplit=1)[0]


def test_describe_fault_follows_the_cause():
    fault = vim.fault.GenericVmConfigFault(
        msg="Failed to lock the file", reason="lock",
        faultCause=vim.fault.FileLocked(msg="Cannot open the disk", file="[ds1] web01/web01.vmdk"))
    text = describe_fault(fault)
    assert "GenericVmConfigFault: Failed to lock the file" in text
    assert "caused by FileLocked: Cannot open the disk (file=[ds1] web01/web01.vmdk)" in text


class _Info:
    def __init__(self, state, progress=None, result=None, error=None):
        self.state, self.progress, self.result, self.error = state, progress, result, error
        self.key, self.name, self.descriptionId = "task-42", "CreateSnapshot_Task", "VirtualMachine.createSnapshot"
        self.entityName, self.entity = "web01", None


class _ScriptedTask:
    """A task whose info goes through the given states, one per read."""

    def __init__(self, states):
        self._states = list(states)

    @property
    def info(self):
        return self._states.pop(0) if len(self._states) > 1 else self._states[0]


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_returns_result_and_reports_progress():
    clock = _Clock()
    seen = []
    task = _ScriptedTask([_Info("queued"), _Info("running", 10), _Info("running", 10), _Info("running", 60),
                          _Info("success", result="snapshot-7")])
    assert wait_for_task(task, timeout=60, on_progress=seen.append, clock=clock, sleep=clock.sleep) == "snapshot-7"
    assert seen == [10, 60]


def test_wait_raises_the_fault_in_full():
    fault = vim.fault.FileLocked(msg="Unable to access file since it is locked", file="[ds1] a.vmdk")
    task = _ScriptedTask([_Info("running"), _Info("error", error=fault)])
    clock = _Clock()
    with pytest.raises(TaskFailedError) as caught:
        wait_for_task(task, clock=clock, sleep=clock.sleep)
    assert str(caught.value) == ("Task VirtualMachine.createSnapshot (task-42) on 'web01' failed: FileLocked: "
                                 "Unable to access file since it is locked (file=[ds1] a.vmdk)")
    assert caught.value.error_code == "TASK_FAILED"
    assert caught.value.details == {"task": "task-42", "fault": "FileLocked"}


def test_timeout_says_the_task_still_runs_and_its_key():
    clock = _Clock()
    task = _ScriptedTask([_Info("running", 40)])
    with pytest.raises(TaskTimeoutError) as caught:
        wait_for_task(task, timeout=30, clock=clock, sleep=clock.sleep)
    message = str(caught.value)
    assert "task-42" in message and "within 30 s" in message and "still running at 40% in vCenter" in message
    assert clock.now == pytest.approx(30)  # it waited the whole timeout, not more


# the guest heartbeat vCenter shows, waited for on the same moved clock

class Recovering:
    """A VM whose heartbeat is red for its first two looks, then green."""
    name = "web01"

    def __init__(self):
        self.statuses = iter(["red", "red", "green"])

    @property
    def guestHeartbeatStatus(self):
        return next(self.statuses)


def test_a_heartbeat_that_turns_green_is_waited_for():
    clock = _Clock()
    wait_for_heartbeat(Recovering(), 10, clock=clock, sleep=clock.sleep)
    assert clock.now == 2


def test_a_heartbeat_that_stays_red_fails_with_its_colour_and_the_likely_cause():
    clock = _Clock()
    vm = SimpleNamespace(name="web01", guestHeartbeatStatus="red")
    with pytest.raises(HeartbeatLostError) as failed:
        wait_for_heartbeat(vm, 5, clock=clock, sleep=clock.sleep)
    assert failed.value.error_code == "HEARTBEAT_LOST" and "is red" in str(failed.value) and "datastore" in str(failed.value)
