# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Protect, unprotect or delete one restore point (docs/retention.md). No Ansible imports."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository import garbage
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointDamagedError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import DEFAULT_LEASE_TIMEOUT, EXCLUSIVE, SHARED, announce_waits
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import RepositoryError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.immutability import refuse_delete_while_locked
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.points import is_point_id, PROTECTED_MARK
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository


class PointProtectedError(RepositoryError):
    error_code = "POINT_PROTECTED"


@dataclasses.dataclass(frozen=True)
class RestorePointOptions:
    repository: str
    vm: str
    restore_point: str
    state: str = "present"  # present, absent
    protected: Optional[bool] = None  # None: leave as it is
    gc: bool = True
    lock_timeout: int = DEFAULT_LEASE_TIMEOUT
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None  # how to reach a repository in object storage (s3.OPTIONS)


class RestorePointJob:
    def __init__(self, options: RestorePointOptions, warn: Callable[[str], None] = lambda message: None):
        self.options, self.warn = options, warn

    def run(self, check_mode: bool = False) -> dict:
        o = self.options
        if o.state == "absent" and o.protected:
            raise InvalidSettingsError("protected: true and state: absent contradict each other: a protected point is never deleted")
        repository = Repository(o.repository, o.encryption_key_file, o.s3)
        vm_key = repository.points.vm_key(o.vm, option="vm")
        if check_mode:  # reads only: no lease
            return self._apply(repository, self._choose(repository, vm_key), dry_run=True)
        kind = EXCLUSIVE if o.state == "absent" else SHARED  # a prune deciding meanwhile must not miss a protection
        with repository.lease(kind, "%s of a point of %s" % ("delete" if o.state == "absent" else "protection", o.vm),
                              timeout=o.lock_timeout, on_wait=announce_waits(self.warn)):
            # chosen under the lease: a prune may have removed a point, or protected one, while this run waited
            return self._apply(repository, self._choose(repository, vm_key), dry_run=False)

    def _choose(self, repository: Repository, vm_key: str) -> Optional[dict]:
        """The point to change; for a deletion only a point id, and None when that point is gone
        already (a second run of the same deletion changes nothing)."""
        o = self.options
        if o.state != "absent":
            return repository.points.find(vm_key, o.restore_point)
        if not is_point_id(o.restore_point):
            # latest or a time names a different point as backups come and go: never delete by them
            chosen = repository.points.find(vm_key, o.restore_point)
            newest = repository.points.list(vm_key)[-1]["id"] == chosen["id"]
            raise InvalidSettingsError(
                "nothing was deleted: a deletion takes a point id, and restore_point %r is a selector. It selects "
                "point %s of %s (%s)%s; to delete it, give restore_point: %s" % (
                    o.restore_point, chosen["id"], chosen["vm"]["name"], chosen["time"],
                    ", the VM's newest point" if newest else "", chosen["id"]))
        return next((m for m in repository.points.list(vm_key) if m["id"] == o.restore_point), None)

    def _apply(self, repository: Repository, manifest: Optional[dict], dry_run: bool) -> dict:
        o = self.options
        if manifest is None:
            return {"changed": False, "point": None, "state": "absent"}
        protected = repository.points.is_protected(manifest)
        point = {"id": manifest["id"], "time": manifest["time"], "vm": manifest["vm"]["name"],
                 "instance_uuid": manifest["vm"]["instance_uuid"]}
        if o.state == "absent":
            refuse_delete_while_locked(manifest)
            if protected:
                raise PointProtectedError("point %s of %s is protected: unprotect it first (protected: false)" % (
                    manifest["id"], manifest["vm"]["name"]), details={"point": dict(point, protected=True)})
            result = {"changed": True, "point": dict(point, protected=False), "state": "absent"}
            if not dry_run:
                garbage.remove_point(repository, manifest)
                if o.gc:
                    try:
                        result["gc"] = garbage.collect_garbage(repository).as_dict()
                    except PointDamagedError as exc:  # the deletion stands; the collection waits for a repair
                        result["gc"] = None
                        self.warn("the point was deleted, but %s" % exc.message)
            return result
        wanted = protected if o.protected is None else o.protected
        if not dry_run and wanted != protected:
            mark = "%s/%s" % (repository.points.folder(manifest), PROTECTED_MARK)
            if wanted:
                repository.storage.create(mark, b"")
            else:
                repository.storage.delete(mark)
        return {"changed": wanted != protected, "point": dict(point, protected=wanted), "state": "present"}
