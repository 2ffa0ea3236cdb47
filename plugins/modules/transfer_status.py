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
  - Run the transfer with C(async) and C(poll) set to 0, then either let this module follow it to its end
    (O(follow), which prints one progress line per step at the default verbosity), or call it in an C(until)
    loop on RV(finished) with O(wait) so that each call answers as soon as there is news. The transfer's own
    result comes from C(ansible.builtin.async_status).
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
  wait:
    description:
      - Seconds to wait for news before answering - the transfer ending, its state changing (waiting for a host
        slot, running) or its progress reaching the next multiple of O(progress_step) percent. It answers as soon
        as one of those happens, so a loop of calls needs no C(delay). V(0) answers at once.
      - With O(follow), the longest time between two lines.
      - Defaults to V(0), or V(60) with O(follow).
    type: int
  progress_step:
    description: Percent of the transfer between two answers of O(wait) and two lines of O(follow).
    type: int
    default: 10
  follow:
    description:
      - Follow the transfer until it ends, printing RV(summary) as one line per step (every O(progress_step)
        percent, at a change of state and at least every O(wait) seconds) at the default verbosity, as AWX shows
        it. The task then returns the last status, with RV(finished) true.
      - Fails with C(error_code) C(TRANSFER_TIMEOUT) when the transfer has not ended after O(timeout) seconds.
      - The lines come from the module's action plugin, on the controller; a runner that runs the module
        alone gets one answer when the transfer ends, and no lines.
      - On a C(local) connection without C(become), the action plugin reads the status file itself after the
        module's first answer, instead of starting the module again for every answer.
    type: bool
    default: false
  timeout:
    description: With O(follow), seconds to follow the transfer at most.
    type: int
    default: 86400
extends_documentation_fragment:
  - vadp.vsphere.connection
attributes:
  check_mode:
    support: full
    description: Read-only.
'''

EXAMPLES = r'''
# Any module that takes state_dir (vmdk_restore, vm_backup) is followed the same way.
- name: Restore in the background
  vadp.vsphere.vmdk_restore:
    name: web01
    repository: /backups
    restore_point: latest
    state_dir: /var/lib/vadp/web01
  async: 7200
  poll: 0
  register: restore_job

- name: Follow the restore to its end, a line every 10% and at least every minute
  vadp.vsphere.transfer_status:
    state_dir: /var/lib/vadp/web01
    job_results_file: "{{ restore_job.results_file }}"
    follow: true
    wait: 60
    timeout: 7200

- name: Collect the restore's result
  ansible.builtin.async_status:
    jid: "{{ restore_job.ansible_job_id }}"
  register: restore
  until: restore.finished
  retries: 30
  delay: 2

# Or one answer per call, in a loop of your own (no delay needed: each call waits for news).
- name: Wait for the next 25% of a backup
  vadp.vsphere.transfer_status:
    state_dir: /var/lib/vadp/web01-backup
    wait: 300
    progress_step: 25
  register: progress
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
lines:
  description: With O(follow), every line printed while following, in order.
  returned: when O(follow) is true
  type: list
  elements: str
  sample: ["running, 409.6 MiB of 4.0 GiB (10%), 205.0 MiB/s, about 18 s left", "done, 4.0 GiB of 4.0 GiB (100%)"]
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vadp.vsphere.plugins.module_utils.connection_spec import connection_argument_spec
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.progress import StatusInvalidError
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.status import FOLLOW_TIMEOUT, answer_news, follow_silently, summarize


def main():
    spec = connection_argument_spec()
    spec.update(state_dir=dict(type="path", required=True), job_results_file=dict(type="path"),
                wait=dict(type="int"), progress_step=dict(type="int", default=10),
                follow=dict(type="bool", default=False), timeout=dict(type="int", default=FOLLOW_TIMEOUT))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if (p["wait"] or 0) < 0 or p["timeout"] < 0 or not 1 <= p["progress_step"] <= 100:
        module.fail_json(msg="wait and timeout must not be negative, progress_step must be 1 to 100",
                         error_code="INVALID_ARGUMENT")
    if not p["job_results_file"] and not os.path.isdir(p["state_dir"]):
        module.fail_json(msg="No transfer has used %s (no such folder): check state_dir" % p["state_dir"],
                         error_code="NOT_FOUND")
    try:
        if not p["follow"]:
            module.exit_json(**answer_news(p["state_dir"], p["job_results_file"], p["wait"] or 0, p["progress_step"]))
        # run without its action plugin (which follows on the controller): wait for the end
        status, finished = follow_silently(p["state_dir"], p["job_results_file"], p["timeout"])
    except StatusInvalidError as exc:
        module.fail_json(msg=exc.message, error_code=exc.error_code)
    as_json = status.to_json() if status else None
    if not finished:
        module.fail_json(msg="The transfer did not end within %d s: %s" % (p["timeout"], summarize(status)),
                         error_code="TRANSFER_TIMEOUT", status=as_json, finished=False)
    module.exit_json(changed=False, status=as_json, finished=finished, summary=summarize(status))


if __name__ == "__main__":
    main()
