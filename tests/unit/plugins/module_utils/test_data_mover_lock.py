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


def test_one_transfer_at_a_time_per_vm_whatever_the_state_folder(tmp_path):
    locks = str(tmp_path / "locks")
    restore = DataMover(str(tmp_path / "restore"), vm_key="vm-uuid-1", lock_dir=locks)
    with pytest.raises(TransferBusyError, match="VM vm-uuid-1"):
        DataMover(str(tmp_path / "backup"), vm_key="vm-uuid-1", lock_dir=locks)
    DataMover(str(tmp_path / "other"), vm_key="vm-uuid-2", lock_dir=locks).close()  # another VM is free
    # the refused mover released its state folder: once the VM is free it can run
    restore.close()
    DataMover(str(tmp_path / "backup"), vm_key="vm-uuid-1", lock_dir=locks).close()
