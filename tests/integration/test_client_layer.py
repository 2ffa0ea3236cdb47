"""The Ansible-free client layer against the lab: thumbprints, task faults, lookups, keep-alive."""
import time

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.client import ConnectionSettings, VsphereClient
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import (
    AmbiguousObjectError,
    ObjectNotFoundError,
    TaskFailedError,
    TaskTimeoutError,
    TlsVerificationError,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.lookup import (
    find_by_name,
    find_folder,
    find_vm,
    inventory_path,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import wait_for_task
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tls import server_thumbprints


@pytest.fixture
def client(lab):
    with VsphereClient(ConnectionSettings(lab.host, lab.user, lab.password, port=lab.port, ca_bundle=lab.ca_file)) as c:
        yield c


def test_thumbprints_come_from_a_verified_connection(lab):
    prints = server_thumbprints(lab.host, lab.port, validate_certs=True, ca_bundle=lab.ca_file)
    assert prints == {"sha1": lab.thumbprint_sha1, "sha256": lab.thumbprint_sha256, "verified": True}


def test_thumbprint_of_an_untrusted_server_is_refused_unless_validation_is_off(lab):
    with pytest.raises(TlsVerificationError, match="validate_certs.*ca_bundle"):
        server_thumbprints(lab.host, lab.port, validate_certs=True)
    unverified = server_thumbprints(lab.host, lab.port, validate_certs=False)
    assert unverified["sha1"] == lab.thumbprint_sha1 and unverified["verified"] is False


def test_a_failed_task_reads_like_a_sentence(client):
    vm = find_vm(client.content, name="DC0_H0_VM0")
    assert vm.runtime.powerState == "poweredOn"
    with pytest.raises(TaskFailedError) as caught:
        wait_for_task(vm.PowerOnVM_Task(), timeout=30)
    message = str(caught.value)
    assert message.startswith("Task ")
    assert "on 'DC0_H0_VM0' failed: InvalidPowerState" in message  # the VM's name, not its moid
    assert "existingState=poweredOn" in message
    assert "(vim.fault" not in message and "msg = " not in message  # no pyVmomi repr
    assert caught.value.details["fault"] == "InvalidPowerState"


def test_lookups_by_name_and_their_errors(client):
    content = client.content
    assert inventory_path(find_by_name(content, "cluster", "DC0_C0")) == "/DC0/host/DC0_C0"
    assert find_by_name(content, "host", "DC0_C0_H1", datacenter="DC0").name == "DC0_C0_H1"
    assert find_by_name(content, "datastore", "LocalDS_0").name == "LocalDS_0"
    assert find_by_name(content, "network", "DC0_DVPG0").name == "DC0_DVPG0"
    assert inventory_path(find_folder(content, "vm", datacenter="DC0")) == "/DC0/vm"
    with pytest.raises(AmbiguousObjectError) as caught:  # every compute resource has a pool "Resources"
        find_by_name(content, "resource_pool", "Resources")
    assert "/DC0/host/DC0_C0/Resources" in str(caught.value) and "/DC0/host/DC0_H0/Resources" in str(caught.value)
    with pytest.raises(ObjectNotFoundError, match="No datastore named 'nope' in datacenter DC0"):
        find_by_name(content, "datastore", "nope", datacenter="DC0")


@pytest.mark.watches_transfer
def test_keepalive_pings_while_idle(lab):
    settings = ConnectionSettings(lab.host, lab.user, lab.password, port=lab.port, ca_bundle=lab.ca_file,
                                  keepalive_interval=0.2)
    with VsphereClient(settings):
        before = lab.control("/stats")["soap_calls"]
        deadline = time.monotonic() + 120  # only a bound for a broken keep-alive; pings end the wait
        after = before
        while after - before < 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # the pings are what is waited for: the lab counts SOAP calls (not these polls)
            after = lab.control("/stats")["soap_calls"]
    assert after - before >= 3


@pytest.fixture
def task_rules(lab):
    yield lambda rules: lab.control("/faults", {"tasks": rules})
    lab.control("/faults", {"tasks": []})


def test_an_injected_task_fault_is_reported_in_full_once(client, task_rules):
    task_rules([{"method": "CreateSnapshot_Task", "fault": "FileLocked", "message": "[LocalDS_0] DC0_H0_VM1/disk1.vmdk",
                 "times": 1}])
    vm = find_vm(client.content, name="DC0_H0_VM1")
    with pytest.raises(TaskFailedError) as caught:
        wait_for_task(vm.CreateSnapshot_Task("x", "", False, False), timeout=30)
    assert ("on 'DC0_H0_VM1' failed: FileLocked: Unable to access file [LocalDS_0] DC0_H0_VM1/disk1.vmdk "
            "since it is locked (file=[LocalDS_0] DC0_H0_VM1/disk1.vmdk)") in str(caught.value)
    assert vm.snapshot is None
    snapshot = wait_for_task(vm.CreateSnapshot_Task("y", "", False, False), timeout=30)  # only once
    wait_for_task(vm.RemoveAllSnapshots_Task(), timeout=30)
    assert snapshot is not None


def test_a_task_that_outlives_the_timeout_is_reported_as_still_running(client, task_rules):
    task_rules([{"method": "PowerOffVM_Task", "delay_seconds": 3, "times": 1}])
    vm = find_vm(client.content, name="DC0_H0_VM1")
    task = vm.PowerOffVM_Task()
    with pytest.raises(TaskTimeoutError) as caught:
        wait_for_task(task, timeout=1)
    assert "(%s) on 'DC0_H0_VM1' did not finish within 1 s and is still running at 50%% in vCenter" % task._moId \
        in str(caught.value)
    assert wait_for_task(task, timeout=30) is None  # vCenter finishes it later
    wait_for_task(vm.PowerOnVM_Task(), timeout=30)
