"""Connection settings: validation messages and that the password never shows."""
import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere_client import ConnectionSettings
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere_errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere_tls import certificate_thumbprints


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
