"""wait_for_heartbeat: the guest's heartbeat as vCenter shows it, waited for on a clock the test
moves (no real time passes)."""
from types import SimpleNamespace

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.power import wait_for_heartbeat
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import HeartbeatLostError


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Recovering:
    """A VM whose heartbeat is red for its first two looks, then green."""
    name = "web01"

    def __init__(self):
        self.statuses = iter(["red", "red", "green"])

    @property
    def guestHeartbeatStatus(self):
        return next(self.statuses)


def test_a_heartbeat_that_turns_green_is_waited_for():
    clock = Clock()
    wait_for_heartbeat(Recovering(), 10, clock=clock, sleep=clock.sleep)
    assert clock.now == 2


def test_a_heartbeat_that_stays_red_fails_with_its_colour_and_the_likely_cause():
    clock = Clock()
    vm = SimpleNamespace(name="web01", guestHeartbeatStatus="red")
    with pytest.raises(HeartbeatLostError) as failed:
        wait_for_heartbeat(vm, 5, clock=clock, sleep=clock.sleep)
    assert failed.value.error_code == "HEARTBEAT_LOST" and "is red" in str(failed.value) and "datastore" in str(failed.value)
