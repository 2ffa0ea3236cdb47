"""Folder path normalisation (pure); lookups themselves are tested against the lab."""
import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.lookup import entity_name, normalize_folder


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


@pytest.mark.parametrize("stored, typed", [
    ("web01", "web01"),
    ("web%2f01", "web/01"),
    ("web%2F01", "web/01"),
    ("a%5cb", "a\\b"),
    ("100%25", "100%"),
    ("100%252f", "100%2f"),  # an escaped '%' followed by '2f' is not a '/'
])
def test_names_as_vcenter_stores_them_match_names_as_typed(stored, typed):
    assert entity_name(stored) == typed
