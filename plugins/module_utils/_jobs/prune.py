# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prune: remove the points a retention policy does not keep, then collect the chunks no point
references (docs/retention.md). Works on the repository alone; no Ansible imports.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Callable, List, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils._repository import garbage
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.immutability import point_locked_until, stamp
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import DEFAULT_LEASE_TIMEOUT, EXCLUSIVE, announce_waits, describe
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.retention import PointRef, RetentionPolicy, decide
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.points import from_the_future, parse_time
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository


@dataclasses.dataclass(frozen=True)
class PruneOptions:
    repository: str
    vm: Optional[str] = None  # one VM (name or instance uuid), else every VM in the repository
    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: Optional[str] = None
    gc: bool = True
    lock_timeout: int = DEFAULT_LEASE_TIMEOUT
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None  # how to reach a repository in object storage (s3.OPTIONS)


def _policy(o: PruneOptions) -> RetentionPolicy:
    return RetentionPolicy(**{f.name: getattr(o, f.name) for f in dataclasses.fields(RetentionPolicy)})


def _point(manifest: dict, reasons: List[str]) -> dict:
    return {"id": manifest["id"], "time": manifest["time"], "type": manifest.get("type"), "kept_by": reasons}


class PointInFutureError(VadpError):
    error_code = "POINT_IN_FUTURE"


class PruneJob:
    """warn receives what a caller should show (Ansible: module.warn): whom it waits for."""

    def __init__(self, options: PruneOptions, warn: Callable[[str], None] = lambda message: None):
        self.options, self.warn = options, warn

    def run(self, check_mode: bool = False) -> dict:
        o = self.options
        policy = _policy(o)  # a bad policy is refused before the repository is opened
        repository = Repository(o.repository, o.encryption_key_file, o.s3)
        if check_mode:  # reads only: no lease, a running backup is not disturbed
            return self._prune(repository, policy, dry_run=True)
        with repository.lease(EXCLUSIVE, "prune", timeout=o.lock_timeout, on_wait=announce_waits(self.warn)) as lease:
            result = self._prune(repository, policy, dry_run=False)
            result["stale_leases_removed"] = [describe(s) for s in lease.stale_removed]
        return result

    def _prune(self, repository: Repository, policy: RetentionPolicy, dry_run: bool) -> dict:
        damaged = []
        # every readable point, of every VM: what is not removed keeps its chunks from the collection
        everything = repository.points.list(damaged=damaged)
        unknown = {d["vm_key"] for d in damaged}
        if self.options.vm:
            keys = [repository.points.vm_key(self.options.vm, option="vm")]
            repository.points.list(keys[0])  # this VM's points all readable, or POINT_DAMAGED before anything goes
        else:  # a VM with a damaged point is left as it is; the others are pruned
            keys = sorted({m["vm"]["instance_uuid"] for m in everything} - unknown)
        vms, removed = {}, []
        future = [m for m in everything if m["vm"]["instance_uuid"] in keys and from_the_future(m)]
        if future:  # retention counts from the newest point: by a clock that is ahead, it would remove the real ones
            raise PointInFutureError(
                "nothing was removed: %s dated in the future (%s; now %s UTC), written by a host whose clock is ahead. "
                "Retention counts from the newest point, so a prune now would remove points by that clock. Set the "
                "clock right, then delete those points by id (vadp.vsphere.restore_point state: absent) or prune "
                "once their time has passed" % (
                    "points are" if len(future) > 1 else "a point is",
                    ", ".join("%s of %s at %s" % (m["id"], m["vm"]["name"], m["time"]) for m in future),
                    datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")))
        now = datetime.datetime.now(datetime.timezone.utc)
        for key in keys:
            manifests = {m["id"]: m for m in everything if m["vm"]["instance_uuid"] == key}
            refs = [PointRef(m["id"], parse_time(m["time"]), repository.points.is_protected(m)) for m in manifests.values()]
            decisions = decide(refs, policy)
            for decision in decisions:  # a lock no policy can lift: the server would refuse to delete it anyway
                locked = point_locked_until(manifests[decision.id])
                if locked and locked > now:
                    decision.reasons.append("immutable until %s" % stamp(locked))
            going = [manifests[d.id] for d in decisions if not d.keep]
            vms[key] = {"name": manifests[decisions[0].id]["vm"]["name"],
                        "kept": [_point(manifests[d.id], d.reasons) for d in decisions if d.keep],
                        "removed": [_point(m, []) for m in going]}
            removed += going
        if not dry_run:
            for manifest in removed:
                garbage.remove_point(repository, manifest)
        result = {"changed": bool(removed), "vms": vms, "points_removed": len(removed),
                  "points_kept": len(everything) - len(removed), "damaged_points": damaged}
        if damaged:
            self.warn("%d damaged point%s left as they are, with every point of their VM%s (%s): repair or remove them "
                      "(restore_point_info lists them)%s" % (
                          len(damaged), "s" if len(damaged) > 1 else "", "s" if len(unknown) > 1 else "",
                          ", ".join("%s/%s" % (d["vm_key"], d["point"]) for d in damaged),
                          "; chunks were not collected, since a damaged point's chunks cannot be told" if self.options.gc else ""))
        if self.options.gc and damaged:
            result["gc"] = None
        elif self.options.gc:
            report = garbage.collect_garbage(repository, dry_run=dry_run, removing={m["id"] for m in removed})
            result["gc"] = report.as_dict()
            result["changed"] = result["changed"] or bool(report.chunks_removed or report.temporary_files_removed
                                                          or report.unfinished_points_removed)
        return result
