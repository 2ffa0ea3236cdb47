"""Folder path normalisation (pure); lookups themselves are tested against the lab."""
import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils.vsphere_lookup import normalize_folder


@pytest.mark.parametrize("folder, datacenter, expected", [
    ("/DC0/vm/prod", None, "/DC0/vm/prod"),
    ("DC0/vm/prod/", None, "/DC0/vm/prod"),
    ("prod", "DC0", "/DC0/vm/prod"),
    ("vm/prod", "DC0", "/DC0/vm/prod"),
    ("/DC0/vm/prod", "DC0", "/DC0/vm/prod"),
    ("vm", "DC0", "/DC0/vm"),
])
def test_normalize_folder(folder, datacenter, expected):
    assert normalize_folder(folder, datacenter) == expected
