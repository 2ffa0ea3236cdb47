# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""transfer_status on the controller: with follow, the module is run again and again (each run
waits for news) and every answer is printed as one line at the default verbosity, where an
``until`` loop would print only "FAILED - RETRYING". Without follow, the module runs once.

On a local connection without become the transfer's files are this process's to read: after the
module's first answer (which also checks the arguments) the next answers are read here, sparing
a Python process per answer (0.1 to 0.4 CPU-seconds each, most of what following a short
transfer cost)."""

from __future__ import annotations

import time

from ansible.module_utils.common.validation import check_type_path
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.status import FOLLOW_TIMEOUT, FOLLOW_WAIT, answer_news
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.progress import StatusInvalidError

display = Display()


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # unused: the module runs in a temporary folder of its own each time
        args = dict(self._task.args)
        try:
            if not boolean(args.get("follow", False), strict=False):
                result.update(self._execute_module(module_args=args, task_vars=task_vars))
                return result
            result.update(self._follow(args, task_vars))
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _follow(self, args, task_vars):
        timeout = int(args.get("timeout", FOLLOW_TIMEOUT))
        wait = int(args.get("wait") or FOLLOW_WAIT)
        host = task_vars.get("inventory_hostname", "localhost")
        deadline = time.monotonic() + timeout
        lines, read_here = [], False
        while True:
            left = max(0, int(deadline - time.monotonic()))
            if read_here:
                answer = self._answer_here(args, min(wait, left))
            else:
                answer = self._execute_module(module_args=dict(args, follow=False, wait=min(wait, left)), task_vars=task_vars)
                read_here = self._connection.transport == "local" and not self._connection.become
            if answer.get("failed"):
                return answer
            if not lines or answer["summary"] != lines[-1]:
                lines.append(answer["summary"])
                display.display("%s: %s" % (host, answer["summary"]))
            answer["lines"] = lines
            if answer["finished"]:
                return answer
            if time.monotonic() >= deadline:
                return dict(answer, failed=True, error_code="TRANSFER_TIMEOUT",
                            msg="The transfer did not end within %d s: %s" % (timeout, answer["summary"]))

    @staticmethod
    def _answer_here(args, wait):
        """The module's answer, read in this process (the module has already accepted args)."""
        results_file = args.get("job_results_file")
        try:
            return answer_news(check_type_path(args["state_dir"]), check_type_path(results_file) if results_file else None,
                               wait, int(args.get("progress_step", 10)))
        except StatusInvalidError as exc:
            return dict(failed=True, msg=exc.message, error_code=exc.error_code)
