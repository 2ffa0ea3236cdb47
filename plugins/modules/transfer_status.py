#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: transfer_status
short_description: Progress of a running disk transfer, for a playbook to show while it runs
description:
  - Reads the status file the data mover keeps in a transfer's state folder and returns it - bytes
    done and total, rate, estimated time left, per disk.
  - Run the transfer with C(async) and C(poll) set to 0, then call this module in an C(until) loop on
    RV(finished); with C(-vvv) each retry prints RV(summary) in the play output (the default output shows
    only the retry count). The transfer's own result comes from C(ansible.builtin.async_status).
  - It reads a local file and does not connect to vSphere. It accepts the connection options so that
    C(module_defaults) for the C(vadp.vsphere.vsphere) group apply to it as to every module.
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options:
  state_dir:
    description:
      - The transfer's state folder (the C(state_dir) given to the module that runs the transfer).
    type: path
    required: true
  job_results_file:
    description:
      - The C(results_file) an C(async) task with C(poll=0) returns. With it, RV(finished) means the job has ended
        (whatever its outcome, even one that failed before its transfer started, or a status file left by an
        earlier run); without it, that the status file says done or failed.
    type: path
extends_documentation_fragment:
  - vadp.vsphere.connection
attributes:
  check_mode:
    support: full
    description: Read-only.
'''

EXAMPLES = r'''
# Any module that takes state_dir (vmdk_restore, vm_backup) is polled the same way.
- name: Restore in the background
  vadp.vsphere.vmdk_restore:
    name: web01
    repository: /backups
    restore_point: latest
    state_dir: /var/lib/vadp/web01
  async: 7200
  poll: 0
  register: restore_job

- name: Show progress until the restore ends (-vvv prints each retry's summary)
  vadp.vsphere.transfer_status:
    state_dir: /var/lib/vadp/web01
    job_results_file: "{{ restore_job.results_file }}"
  register: progress
  until: progress.finished
  retries: 720
  delay: 10

- name: Collect the restore's result
  ansible.builtin.async_status:
    jid: "{{ restore_job.ansible_job_id }}"
  register: restore
  until: restore.finished
  retries: 30
  delay: 2
'''

RETURN = r'''
finished:
  description: Whether the transfer ended (done or failed); false while it runs or before it started.
  returned: always
  type: bool
  sample: false
summary:
  description: One line a person can read.
  returned: always
  type: str
  sample: running, 1.2 GiB of 4.0 GiB (30%), 210.5 MiB/s, about 14 s left
status:
  description: The status file as the mover wrote it; null before the transfer started.
  returned: always
  type: dict
  contains:
    state:
      description: "C(waiting) (for a transfer slot of the VM's host, see O(vadp.vsphere.vm_backup#module:host_disk_limit)), C(running), C(done) or C(failed)."
      type: str
      sample: running
    error: {description: Why it failed (null otherwise)., type: str, sample: null}
    bytes_done: {description: Bytes written so far (resumed runs count what earlier runs wrote)., type: int, sample: 1288490188}
    bytes_total: {description: Bytes to write in all., type: int, sample: 4294967296}
    bytes_per_second: {description: Rate of this run., type: int, sample: 220725248}
    eta_seconds: {description: Estimated seconds left (null before a rate is known)., type: int, sample: 14}
    seconds: {description: Seconds since this run started., type: float, sample: 5.8}
    disks: {description: "Per disk: id, path, bytes_done, bytes_total, resumed_from, transport, state.", type: list, elements: dict, sample: []}
'''

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vadp.vsphere.plugins.module_utils.files import read_json
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import connection_argument_spec


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return "%.1f %s" % (n, unit) if unit != "B" else "%d B" % n
        n /= 1024.0


def summarize(status):
    if status is None:
        return "not started"
    if status.get("state") == "waiting":
        return "waiting: " + status.get("message", "")
    total = status.get("bytes_total") or 0
    done = status.get("bytes_done") or 0
    text = "%s, %s of %s" % (status.get("state"), _size(done), _size(total))
    if total:
        text += " (%d%%)" % (100 * done // total)
    if status.get("state") == "running":
        text += ", %s/s" % _size(status.get("bytes_per_second") or 0)
        if status.get("eta_seconds") is not None:
            text += ", about %s s left" % status["eta_seconds"]
    if status.get("error"):
        text += ": " + status["error"]
    return text


def _job_ended(results_file):
    """Whether the async job behind results_file has ended: async_wrapper first writes
    {"started": 1, "finished": 0}, and the module's own result when it ends."""
    try:
        with open(results_file) as f:
            result = json.load(f)
    except (OSError, ValueError):
        return False  # not written yet, or being written
    return not result.get("started") or bool(result.get("finished"))


def main():
    spec = connection_argument_spec()
    spec.update(state_dir=dict(type="path", required=True), job_results_file=dict(type="path"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    status = read_json(os.path.join(module.params["state_dir"], "status.json"))
    if module.params["job_results_file"]:
        finished = _job_ended(module.params["job_results_file"])
    else:
        finished = bool(status and status.get("state") in ("done", "failed"))
    module.exit_json(changed=False, status=status, finished=finished, summary=summarize(status))


if __name__ == "__main__":
    main()
