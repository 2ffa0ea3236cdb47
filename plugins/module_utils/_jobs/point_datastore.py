# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, keep or stop a restore point served as an NFS datastore (the restore_point_datastore
module's work): idempotent by the datastore's name. No Ansible imports.
"""

from __future__ import annotations

import dataclasses

from ansible_collections.vadp.vsphere.plugins.module_utils._export.nbd_export import ExportError, checked_name
from ansible_collections.vadp.vsphere.plugins.module_utils._export.nfs_datastore import DatastoreOptions, PointDatastores
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

# what makes two datastores of one name the same datastore
_IDENTITY = ("point", "nfs_address", "nfs_port")


class DatastoreNameTakenError(ExportError):
    error_code = "DATASTORE_NAME_TAKEN"


@dataclasses.dataclass(frozen=True)
class PointDatastoreOptions(DatastoreOptions):
    state: str = "started"


class PointDatastoreJob:
    def __init__(self, options: PointDatastoreOptions):
        self.options = options
        self.datastores = PointDatastores(options.datastores_dir)

    def run(self, check_mode: bool = False) -> dict:
        result = self._stop(check_mode) if self.options.state == "stopped" else self._start(check_mode)
        result["datastores"] = self.datastores.list()
        return result

    def _start(self, check_mode: bool) -> dict:
        o = self.options
        repository = Repository(o.repository, key_file=o.encryption_key_file, s3=o.s3)
        point = repository.points.find(repository.points.vm_key(o.vm, option="vm"), o.restore_point)
        for disk in point["disks"]:
            if disk.get("index") is not None:
                repository.points.read_index(point, disk)  # readable, and with an encrypted repository the key is right
        plan = self.datastores.plan(o, point)
        running = self.datastores.find(plan["name"])
        if running is not None:
            if any(running.get(k) != plan[k] for k in _IDENTITY):
                raise DatastoreNameTakenError("a datastore named %s already serves point %s on %s port %s: stop it first "
                                              "(state: stopped) or give another name" % (
                                                  plan["name"], running["point"], running["nfs_address"], running["nfs_port"]))
            if not running["health"]:
                return {"changed": False, "datastore": running}
        if check_mode:
            return {"changed": True, "datastore": running or plan}
        return {"changed": True, "datastore": self.datastores.start(o, plan, point)}

    def _stop(self, check_mode: bool) -> dict:
        running = self.datastores.find(checked_name(self.options.name))
        if running is None:
            return {"changed": False, "datastore": None}
        if not check_mode:
            self.datastores.stop(running)
        return {"changed": True, "datastore": running}
