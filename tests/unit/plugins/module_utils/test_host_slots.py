"""Transfer slots per ESXi host (host_disk_limit): real flocks, held by other processes."""
import os
import signal
import subprocess
import sys
import threading

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.host_slots import HostBusyError, HostSlots

HOLDER = """
import sys
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.host_slots import HostSlots
with HostSlots(sys.argv[1], "vc-host-12", int(sys.argv[2]), timeout=0).hold(int(sys.argv[3])):  # never waits
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin, or kills this process
"""


@pytest.fixture
def holder(tmp_path):
    """Start a process holding count of limit slots; it holds them until released or killed."""
    started = []

    def start(count, limit):
        process = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), str(limit), str(count)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                   env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        assert process.stdout.readline() == "held\n"
        started.append(process)
        return process
    yield start
    for process in started:
        process.kill()
        process.wait()


def test_a_transfer_waits_for_a_free_slot_says_so_and_runs_when_one_frees(tmp_path, holder):
    other = holder(2, 2)
    waiting, running, messages = threading.Event(), threading.Event(), []
    slots = HostSlots(str(tmp_path), "vc-host-12", 2, poll_seconds=0.01)

    def transfer():
        with slots.hold(1, on_wait=lambda message: (messages.append(message), waiting.set())):
            running.set()
    thread = threading.Thread(target=transfer)
    thread.start()
    assert waiting.wait(60)
    assert not running.is_set()
    assert "waiting for 1 of the 2 transfer slots of host vc-host-12" in messages[0]
    other.stdin.close()  # the other transfer ends
    thread.join(60)
    assert running.is_set()


def test_a_killed_holders_slots_are_free_at_once(tmp_path, holder):
    other = holder(2, 2)
    other.send_signal(signal.SIGKILL)
    other.wait()
    messages = []
    with HostSlots(str(tmp_path), "vc-host-12", 2, timeout=0).hold(2, on_wait=messages.append):
        pass
    assert messages == []


def test_a_waiter_holds_nothing_so_smaller_transfers_still_run(tmp_path, holder):
    holder(2, 3)
    slots = HostSlots(str(tmp_path), "vc-host-12", 3, timeout=0)
    with pytest.raises(HostBusyError):
        with slots.hold(2):
            pass
    holder(1, 3)  # the third slot was left free by the failed attempt


def test_no_slot_within_the_timeout_is_a_clear_error(tmp_path, holder):
    holder(1, 1)
    with pytest.raises(HostBusyError, match="1 transfer slot.* of host vc-host-12 did not come free within 0 s.*all 1 "
                                            r"\(host_disk_limit\)"):
        with HostSlots(str(tmp_path), "vc-host-12", 1, timeout=0).hold(4):  # asks more than the limit: the limit
            pass


def test_other_hosts_have_their_own_slots(tmp_path, holder):
    holder(1, 1)
    with HostSlots(str(tmp_path), "vc-host-13", 1, timeout=0).hold(1):
        pass
