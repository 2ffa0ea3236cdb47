# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, keep or stop an NBD export of one disk of a restore point (the restore_point_export
module's work): idempotent by the export's name. No Ansible imports.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from ansible_collections.vadp.vsphere.plugins.module_utils._export.nbd_export import ExportError, ExportOptions, NbdExports, checked_name

# what makes two exports of one name the same export
_IDENTITY = ("repository", "point", "disk", "uri", "copy_on_write")


class ExportNameTakenError(ExportError):
    error_code = "EXPORT_NAME_TAKEN"


@dataclasses.dataclass(frozen=True)
class PointExportOptions(ExportOptions):
    state: str = "started"
    exports_dir: Optional[str] = None


class PointExportJob:
    def __init__(self, options: PointExportOptions):
        self.options = options
        self.exports = NbdExports(options.exports_dir)

    def run(self, check_mode: bool = False) -> dict:
        result = self._stop(check_mode) if self.options.state == "stopped" else self._start(check_mode)
        result["exports"] = self.exports.list()
        return result

    def _start(self, check_mode: bool) -> dict:
        plan = self.exports.plan(self.options)
        running = self.exports.find(plan["name"])
        if running is not None:
            if any(running.get(k) != plan[k] for k in _IDENTITY):
                raise ExportNameTakenError("an export named %s already serves point %s disk %s at %s: stop it first "
                                           "(state: stopped) or give another name" % (
                                               plan["name"], running["point"], running["disk"], running["uri"]))
            return {"changed": False, "export": running}
        if check_mode:
            return {"changed": True, "export": plan}
        return {"changed": True, "export": self.exports.start(self.options, plan)}

    def _stop(self, check_mode: bool) -> dict:
        running = self.exports.find(checked_name(self.options.name))
        if running is None:
            return {"changed": False, "export": None}
        if not check_mode:
            self.exports.stop(running)
        return {"changed": True, "export": running}
