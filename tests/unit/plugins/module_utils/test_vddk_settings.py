"""The VDDK settings every data-moving job takes: the transport list is checked before anything."""
import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.connect import VddkSettings


@pytest.mark.parametrize("transport", ["san", "hotadd:nbdssl:nbd", "nbdssl:nbd", "nbd"])
def test_a_list_of_known_modes_is_taken(transport):
    assert VddkSettings("/opt/vddk", transport=transport).transport == transport


@pytest.mark.parametrize("transport", ["", ":", "nbd:", "nbdsll", "NBD", "nbd:nbd", "san nbd", None])
def test_anything_else_is_refused(transport):
    """An empty list would let VDDK pick any mode, SAN included, past the checks SAN needs."""
    with pytest.raises(InvalidSettingsError) as refused:
        VddkSettings("/opt/vddk", transport=transport)
    assert refused.value.error_code == "INVALID_ARGUMENT" and "transport" in refused.value.message
