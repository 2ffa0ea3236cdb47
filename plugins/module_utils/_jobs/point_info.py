# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List, select and verify restore points, with space accounting (restore_point_info). Works on
the repository alone; no Ansible imports."""

from __future__ import annotations

import dataclasses
from typing import Optional

from ansible_collections.vadp.vsphere.plugins.module_utils._repository.garbage import unreferenced_chunks
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import SHARED
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.space import space_report
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointNotFoundError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.points import from_the_future
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

LISTED_UNREFERENCED = 20  # names shown of the chunks no point references; the count is whole


@dataclasses.dataclass(frozen=True)
class PointInfoOptions:
    repository: str
    vm: Optional[str] = None
    restore_point: Optional[str] = None
    verify: str = "none"  # none, quick, deep
    space: bool = False
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None  # how to reach a repository in object storage (s3.OPTIONS)


def _summary(manifest, points, scanned):
    anomaly, scan = manifest.get("anomaly") or {}, points.last_scan(manifest, scanned[manifest["vm"]["instance_uuid"]])
    return {"id": manifest["id"], "time": manifest["time"], "type": manifest["type"], "parent": manifest.get("parent"),
            "vm": manifest["vm"]["name"], "instance_uuid": manifest["vm"]["instance_uuid"],
            "protected": points.is_protected(manifest), "future": from_the_future(manifest),
            "immutable_until": (manifest.get("immutable") or {}).get("until"),
            "logical_bytes": sum(d["capacity_bytes"] for d in manifest["disks"]),
            "stored_bytes": sum(d.get("stats", {}).get("stored_bytes", 0) for d in manifest["disks"]),
            "suspicious": bool(anomaly.get("suspicious")), "suspicious_reasons": [r["message"] for r in anomaly.get("reasons", [])],
            "scan": {k: scan[k] for k in ("time", "rules", "matches", "complete")} if scan else None}


class PointInfo:
    def __init__(self, options: PointInfoOptions):
        self.options = options

    def run(self, check_mode: bool = False) -> dict:
        repository = Repository(self.options.repository, self.options.encryption_key_file, self.options.s3)
        if check_mode or (self.options.verify == "none" and not self.options.space):  # check mode writes nothing
            return self._run(repository)
        # a point a prune removes while it is read would look damaged
        with repository.lease(SHARED, "verification"):
            return self._run(repository)

    def _run(self, repository: Repository) -> dict:
        o = self.options
        damaged = []  # listed, never skipped in silence: one point's damage does not hide the others
        everything = repository.points.list(damaged=damaged)
        manifests = [m for m in everything if not o.vm or o.vm in (m["vm"]["name"], m["vm"]["instance_uuid"])]
        if o.vm:
            keys = {m["vm"]["instance_uuid"] for m in manifests} | {o.vm}
            damaged = [d for d in damaged if d["vm_key"] in keys]
        scanned = {key: repository.points.scanned(key) for key in {m["vm"]["instance_uuid"] for m in manifests}}
        result = {"changed": False, "points": [_summary(m, repository.points, scanned) for m in manifests],
                  "damaged_points": damaged}
        checked = manifests
        if o.restore_point is not None:
            try:
                chosen = repository.points.find(repository.points.vm_key(o.vm, option="vm"), o.restore_point)
            except PointNotFoundError as exc:
                raise PointNotFoundError(exc.message, details=result)
            result["point"] = {k: v for k, v in chosen.items() if k != "config"}
            checked = [chosen]
        if o.space:
            per_point, result["repository"] = space_report(repository, everything)
            for point in result["points"]:
                point.update(per_point[point["id"]])
        problems = []
        if o.verify != "none":
            if o.restore_point is None:
                problems += [{"point": d["point"], "disk": None, "offset": None, "problem": d["problem"]} for d in damaged]
            for manifest in checked:
                problems += repository.verify(manifest, deep=o.verify == "deep")
            unreadable_index = any(p["offset"] is None for p in problems)
            if not o.vm:  # the whole repository was checked: what no point references is worth knowing too
                # ... unless a manifest or an index could not be read: its chunks would count as unreferenced
                names = None if unreadable_index else unreferenced_chunks(repository)
                result["unreferenced_chunks"] = None if names is None else {
                    "count": len(names), "names": names[:LISTED_UNREFERENCED]}
        result.update(problems=problems, verified_ok=not problems)
        return result
