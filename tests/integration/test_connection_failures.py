"""Bad credentials, wrong ports, untrusted certificates and dropped sessions, through modules."""
import json
import socket

from conftest import run_module, run_task

VM = "DC0_H0_VM0"


def test_wrong_password_names_user_and_host_and_never_shows_the_password(lab):
    secret = "Wr0ng-But-Secret-%s" % lab.port
    result, output = run_task("vadp.vsphere.vm_info", {"name": VM, "password": secret}, verbosity=3)
    assert result["failed"] and result["error_code"] == "AUTH_FAILED"
    assert "as %r" % lab.user in result["msg"] and "%s:%s" % (lab.host, lab.port) in result["msg"]
    assert secret not in output


def test_password_from_the_environment_is_not_logged_either(lab):
    result, output = run_task("vadp.vsphere.vm_info", {"name": VM}, verbosity=3)
    assert not result.get("failed"), result
    assert lab.password not in output


def test_nothing_listening_is_a_clear_connection_error(lab):
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_module("vadp.vsphere.vm_info", {"name": VM, "port": port})
    output = json.dumps(result)
    assert result["failed"] and result["error_code"] == "CONNECTION_FAILED"
    assert "Cannot connect to 127.0.0.1:%s" % port in result["msg"] and "Check hostname and port" in result["msg"]
    assert "Traceback" not in output


def test_unknown_host_is_a_clear_connection_error(lab):
    result = run_module("vadp.vsphere.vm_info", {"name": VM, "hostname": "vcenter.invalid"})
    assert result["failed"] and result["error_code"] == "CONNECTION_FAILED"
    assert "vcenter.invalid:%s" % lab.port in result["msg"]


def test_untrusted_certificate_names_validate_certs_and_ca_bundle(lab):
    result = run_module("vadp.vsphere.vm_info", {"name": VM}, env={"VMWARE_CA_BUNDLE": ""})
    output = json.dumps(result)
    assert result["failed"] and result["error_code"] == "TLS_VERIFY_FAILED"
    assert "validate_certs" in result["msg"] and "ca_bundle" in result["msg"]
    assert "certificate verify failed" in result["msg"] or "unable to get local issuer" in result["msg"]
    assert "Traceback" not in output


def test_validate_certs_false_connects_without_the_ca(lab):
    result = run_module("vadp.vsphere.vm_info", {"name": VM, "validate_certs": False}, env={"VMWARE_CA_BUNDLE": ""})
    assert not result.get("failed"), result


def test_connection_options_given_as_arguments_instead_of_environment(lab):
    args = {"name": VM, "hostname": lab.host, "port": lab.port, "user": lab.user, "pwd": lab.password,
            "ca_bundle": lab.ca_file}
    result = run_module("vadp.vsphere.vm_info", args, connection_from_env=False)
    assert not result.get("failed"), result


def test_session_dropped_in_the_middle_of_a_run_is_replaced(lab):
    before = lab.control("/stats")
    # The module's login takes 3 SOAP calls and vm_info needs dozens more: the 6th call finds its
    # session terminated, as after a vCenter restart.
    lab.control("/faults", {"terminate_sessions_after_calls": 6})
    result = run_module("vadp.vsphere.vm_info", {"name": VM})
    after = lab.control("/stats")
    assert not result.get("failed"), result
    assert result["vm"]["name"] == VM and result["disks"]
    assert after["terminate_after"] == 0
    assert after["sessions_terminated"] > before["sessions_terminated"]
    assert after["logins"] - before["logins"] == 2  # the first login and the new one
