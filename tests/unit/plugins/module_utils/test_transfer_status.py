"""The worker's status file as a type: what a worker writes reads back the same, and a file no
worker wrote (unknown fields, unknown states, a disk missing its path) is refused by name."""
import json

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.progress import (
    DiskStatus,
    StatusInvalidError,
    TransferStatus,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.status import read_status, summarize

RUNNING = TransferStatus(state="running", pid=42, updated=1.0, bytes_done=25, bytes_total=100, bytes_per_second=5,
                         eta_seconds=15, disks=(DiskStatus(id="2000", path="[ds] web/web.vmdk", bytes_total=100,
                                                           bytes_done=25, state="running", transport="nbdssl"),))


def test_a_status_reads_back_as_it_was_written(tmp_path):
    (tmp_path / "status.json").write_text(json.dumps(RUNNING.to_json()))
    status = read_status(str(tmp_path))
    assert status == RUNNING and status.disk("2000").transport == "nbdssl" and status.percent == 25
    assert summarize(status) == "running, 25 B of 100 B (25%), 5 B/s, about 15 s left"
    assert read_status(str(tmp_path / "elsewhere")) is None and summarize(None) == "not started"


@pytest.mark.parametrize("change, named", [
    (lambda s: s.update(speed=1), "fields a worker does not write: speed"),
    (lambda s: s.update(state="paused"), "state 'paused' is not one of"),
    (lambda s: s["disks"][0].update(state="half"), "disk 0 state 'half'"),
    (lambda s: s["disks"][0].pop("path"), "path"),
    (lambda s: s.pop("pid"), "pid"),
])
def test_a_status_no_worker_wrote_is_refused_by_name(tmp_path, change, named):
    value = RUNNING.to_json()
    change(value)
    (tmp_path / "status.json").write_text(json.dumps(value))
    with pytest.raises(StatusInvalidError, match=named) as caught:
        read_status(str(tmp_path))
    assert caught.value.error_code == "TRANSFER_STATUS_INVALID"
