"""The data mover's state folder lock: one transfer at a time per folder (per VM by default)."""
import os

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.mover import DataMover, StateDirError, TransferBusyError
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import ConnectParams, TransferPlan, VddkLibrary


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


def test_the_worker_ignores_a_sitecustomize_on_the_module_s_path(tmp_path, monkeypatch):
    """ansible-core's module environment can put a sitecustomize on sys.path; the worker, which
    inherits that path, must neither run it nor quote its errors in a failure."""
    import sys
    from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.mover import TransferFailedError
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "sitecustomize.py").write_text("this is not python (\n")
    monkeypatch.setattr(sys, "path", [str(odd)] + sys.path)
    mover = DataMover(str(tmp_path / "state"))
    with pytest.raises(TransferFailedError, match="no libvixDiskLib"):
        mover.run(TransferPlan("write", VddkLibrary(str(tmp_path / "no-vddk")), ConnectParams()), {})
    assert "sitecustomize" not in (tmp_path / "state" / "worker.err").read_text()


def test_a_state_folder_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StateDirError, match="a-file/state cannot be made") as raised:
        DataMover(str(tmp_path / "a-file" / "state"))
    assert raised.value.error_code == "STATE_DIR_UNUSABLE"
