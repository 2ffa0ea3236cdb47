"""Connection settings: validation messages and that the password never shows."""
import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.client import ConnectionSettings
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tls import certificate_thumbprints


def test_missing_settings_name_options_and_environment_variables():
    with pytest.raises(InvalidSettingsError) as caught:
        ConnectionSettings(hostname="vc", username=None, password="").validate()
    assert str(caught.value) == ("Missing connection settings: username (or the VMWARE_USER environment variable), "
                                 "password (or the VMWARE_PASSWORD environment variable).")


@pytest.mark.parametrize("kwargs, text", [
    (dict(port=0), "port must be between 1 and 65535"),
    (dict(proxy_host="proxy"), "proxy_host is set but proxy_port is not"),
])
def test_bad_settings(kwargs, text):
    with pytest.raises(InvalidSettingsError, match=text):
        ConnectionSettings("vc", "u", "p", **kwargs).validate()


def test_repr_hides_the_password():
    settings = ConnectionSettings("vc.example.com", "backup@vsphere.local", "S3cret!")
    assert "S3cret!" not in repr(settings) and "<hidden>" in repr(settings)


def test_thumbprints_are_colon_hex_of_sha1_and_sha256():
    # Reference values computed independently: hashlib over b"abc", formatted by hand.
    prints = certificate_thumbprints(b"abc")
    assert prints["sha1"] == "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D"
    assert prints["sha256"].startswith("BA:78:16:BF:8F:01:CF:EA") and prints["sha256"].count(":") == 31


def test_a_server_that_accepts_and_never_answers_times_out(monkeypatch):
    """Found by a fault no lab produces on demand: pyVmomi's version discovery had no timeout."""
    import socket
    from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere import client as vsphere_client
    from ansible_collections.vadp.vsphere.plugins.module_utils.errors import ConnectionTimeoutError
    monkeypatch.setattr(vsphere_client, "DISCOVERY_TIMEOUT", 1)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # the kernel accepts; nobody ever answers
    port = silent.getsockname()[1]
    try:
        with pytest.raises(ConnectionTimeoutError) as caught:
            vsphere_client.VsphereClient(ConnectionSettings("127.0.0.1", "u", "p", port=port, validate_certs=False))
        assert caught.value.error_code == "CONNECTION_TIMEOUT" and "127.0.0.1:%d" % port in caught.value.message
        assert socket.getdefaulttimeout() is None  # the process's default is restored
    finally:
        silent.close()
