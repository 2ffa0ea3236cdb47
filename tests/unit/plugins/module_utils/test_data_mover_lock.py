"""The data mover's state folder lock: one transfer at a time per folder (per VM by default)."""
import os

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils.data_mover import DataMover, TransferBusyError


def test_one_transfer_at_a_time_per_state_folder(tmp_path):
    first = DataMover(str(tmp_path))
    with pytest.raises(TransferBusyError, match="process %d" % os.getpid()):
        DataMover(str(tmp_path))
    del first  # its lock goes with it
    DataMover(str(tmp_path))
