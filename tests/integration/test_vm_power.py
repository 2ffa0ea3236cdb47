"""vm_power through ansible-playbook against the lab; every outcome read back with pyVmomi."""
import pytest

from conftest import find_vm_by_name, run_module, unchanged, wait

VM = "DC0_H0_VM1"


@pytest.fixture
def vm(si, lab):
    [machine] = find_vm_by_name(si, VM)
    if machine.runtime.powerState != "poweredOn":
        wait(machine.PowerOnVM_Task())
    yield machine
    lab.control("/faults", {"guest_seconds": 2, "tasks": []})
    lab.configure_vm(VM, tools_installed=True)
    question = machine.runtime.question
    if question is not None:
        machine.AnswerVM(question.id, "1")
    if machine.runtime.powerState == "suspended":
        wait(machine.PowerOnVM_Task())
    if machine.runtime.powerState != "poweredOn":
        wait(machine.PowerOnVM_Task())


def power(state, check_mode=False, **args):
    return run_module("vadp.vsphere.vm_power", dict(name=VM, state=state, **args), check_mode=check_mode)


@pytest.mark.parametrize("state, expected", [
    ("powered-off", "poweredOff"), ("shutdown-guest", "poweredOff"), ("suspended", "suspended"),
])
def test_idempotent_states_change_once_and_check_mode_touches_nothing(vm, state, expected):
    checked = power(state, check_mode=True)
    assert checked["changed"] is True and checked["power_state"] == expected
    assert vm.runtime.powerState == "poweredOn"  # check mode left it alone

    first = power(state)
    assert first["changed"] is True and first["power_state_before"] == "poweredOn"
    assert vm.runtime.powerState == expected  # already so when the module returned
    second = power(state)
    assert second["changed"] is False and second["power_state"] == expected

    on = power("powered-on")
    assert on["changed"] is True and vm.runtime.powerState == "poweredOn"
    assert unchanged(power("powered-on"))
    assert unchanged(power("powered-on", check_mode=True))


@pytest.mark.parametrize("state", ["restarted", "reboot-guest"])
def test_restarts_are_actions(vm, state):
    for run in (1, 2):
        result = power(state)
        assert result["changed"] is True and result["forced"] is None, run
        assert vm.runtime.powerState == "poweredOn"


def test_shutdown_without_tools_fails_clearly_or_falls_back(vm, lab):
    lab.configure_vm(VM, tools_installed=False)
    refused = power("shutdown-guest")
    assert refused["failed"] and refused["error_code"] == "TOOLS_NOT_RUNNING"
    assert "VMware Tools is not running in %s" % VM in refused["msg"] and "force_after_timeout" in refused["msg"]
    assert vm.runtime.powerState == "poweredOn"
    forced = power("shutdown-guest", force_after_timeout=True)
    assert forced["changed"] and "not running" in forced["forced"] and vm.runtime.powerState == "poweredOff"


def test_a_slow_guest_times_out_or_is_powered_off_hard(vm, lab):
    lab.control("/faults", {"guest_seconds": 30})
    slow = power("shutdown-guest", timeout=2)
    assert slow["failed"] and slow["error_code"] == "SHUTDOWN_TIMEOUT"
    assert "did not shut down within 2 s" in slow["msg"]
    forced = power("shutdown-guest", timeout=2, force_after_timeout=True)
    assert forced["changed"] and "within 2 s" in forced["forced"] and vm.runtime.powerState == "poweredOff"


def test_impossible_transitions_are_refused(vm):
    power("powered-off")
    refused = power("suspended")
    assert refused["failed"] and refused["error_code"] == "INVALID_POWER_STATE"
    assert power("reboot-guest")["error_code"] == "INVALID_POWER_STATE"


def test_the_uuid_question_after_a_restore_is_answered(vm, lab):
    uuid = vm.config.uuid
    power("powered-off")
    lab.configure_vm(VM, question="msg.uuid.altered")
    result = power("powered-on")
    assert result["changed"] and vm.runtime.powerState == "poweredOn"
    assert result["answered_questions"] == [{"message_id": "msg.uuid.altered", "answer": "i moved it"}]
    assert vm.config.uuid == uuid and vm.runtime.question is None  # moved: same uuid

    power("powered-off")
    lab.configure_vm(VM, question="msg.uuid.altered")
    copied = power("powered-on", answer_questions={"msg.uuid.altered": "I copied it"})
    assert copied["answered_questions"][0]["answer"] == "i copied it" and vm.config.uuid != uuid


def test_a_question_without_an_answer_stops_with_the_question(vm, lab):
    power("powered-off")
    lab.configure_vm(VM, question="msg.uuid.altered")
    result = power("powered-on", answer_questions={}, timeout=20)
    assert result["failed"] and result["error_code"] == "QUESTION_PENDING"
    assert "might have been moved or copied" in result["msg"] and "msg.uuid.altered" in result["msg"]
    assert [c["label"] for c in result["question"]["choices"]] == ["cancel", "i moved it", "i copied it"]
    assert vm.runtime.question is not None  # still asked: the user decides

    bad = power("powered-on", answer_questions={"msg.uuid.altered": "maybe"})
    assert bad["failed"] and bad["error_code"] == "INVALID_ARGUMENT" and "not one of its choices" in bad["msg"]
    answered = power("powered-on")  # a later run answers the question the earlier power-on left
    assert answered["answered_questions"][0]["message_id"] == "msg.uuid.altered"
    assert vm.runtime.powerState == "poweredOn" and vm.runtime.question is None


def test_wait_for_tools_is_a_boot_check(vm, lab):
    wait(vm.PowerOffVM_Task())
    booted = power("powered-on", wait_for_tools=True, timeout=30)
    assert not booted.get("failed") and booted["tools_seconds"] >= 0 and vm.runtime.powerState == "poweredOn"
    lab.configure_vm(VM, tools_installed=False)  # a guest that never brings Tools up
    wait(vm.PowerOffVM_Task())
    stuck = power("powered-on", wait_for_tools=True, timeout=3)
    assert stuck["failed"] and stuck["error_code"] == "TOOLS_NOT_RUNNING" and "within 3 s" in stuck["msg"]
    assert vm.runtime.powerState == "poweredOn"  # powered on; only the check failed
