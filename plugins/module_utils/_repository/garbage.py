# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Removing points and collecting the chunks no point references (docs/retention.md). Every
function here that deletes runs under the repository's exclusive lease, so no backup or restore
runs meanwhile (the jobs take it). No Ansible imports.
"""

import re
from dataclasses import dataclass, field
from typing import AbstractSet, Iterable, Iterator, List, Optional, Set

from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import ObjectLockedError, PointDamagedError

REMOVING_PREFIX = ".removing-"  # a point folder an earlier version renamed away to remove it
_CHUNK_NAME = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class GarbageReport:
    chunks_removed: int = 0
    bytes_freed: int = 0
    temporary_files_removed: int = 0  # chunk files a crashed writer left half-written
    unfinished_points_removed: List[str] = field(default_factory=list)  # folders without a manifest
    # unreferenced chunks and unfinished points a hardened folder keeps locked (in a bucket a delete
    # hides a locked object and the bucket keeps its version: counted as removed)
    locked_kept: int = 0
    locked_until: Optional[str] = None  # the latest date among them

    def as_dict(self):
        return dict(self.__dict__)


def is_chunk_name(name: str) -> bool:
    """Whether an object's name under chunks/ is a chunk's (not a crashed writer's temporary file)."""
    return bool(_CHUNK_NAME.match(name))


def referenced_chunks(repository, manifests: Iterable[dict]) -> Set[bytes]:
    """The chunks the points' indexes name (as 32-byte digests, to keep a large set small)."""
    found = set()
    for manifest in manifests:
        for disk in manifest["disks"]:
            found.update(bytes.fromhex(e) for e in repository.points.read_index(manifest, disk).entries if e is not None)
    return found


def unreferenced_chunks(repository) -> List[str]:
    """The chunk files no visible point references (what a collection would delete), by name."""
    in_use = referenced_chunks(repository, repository.points.list())
    return [name for name, _stored in repository.chunks.stored() if is_chunk_name(name) and bytes.fromhex(name) not in in_use]


def remove_point(repository, manifest: dict) -> None:
    """Delete the manifest first (the point is gone from then on), then the rest of its folder; a
    crash in between leaves a folder without a manifest, which the next collection deletes."""
    folder = repository.points.folder(manifest)
    repository.storage.delete(folder + "/manifest.json")
    repository.storage.delete_tree(folder)
    repository.storage.delete_tree(repository.points.scan_folder(manifest))  # what scans said of it


def _leftover_point_folders(repository) -> Iterator[str]:
    """Point folders without a manifest (a crashed backup or removal) and hidden ones (a removal by
    an earlier version that crashed)."""
    storage = repository.storage
    for key in repository.points.vm_keys():
        points = repository.points.vm_folder(key)
        for name in storage.children(points):
            folder = "%s/%s" % (points, name)
            if name.startswith(REMOVING_PREFIX) or not storage.exists(folder + "/manifest.json"):
                yield folder


def collect_garbage(repository, dry_run: bool = False, removing: AbstractSet[str] = frozenset()) -> GarbageReport:
    """Delete every chunk no visible point references, and what crashed runs left behind.
    Mark (read every index of every point, whatever VM a caller works on) before sweep (list the
    chunk folders); safe only under the exclusive lease. With dry_run, report what would go and
    delete nothing; removing then names the ids of the points a prune's plan would remove. A
    point whose manifest cannot be read stops it before anything is deleted (POINT_DAMAGED): its
    chunks cannot be told from garbage."""
    damaged = []
    kept = [m for m in repository.points.list(damaged=damaged) if m["id"] not in removing]
    if damaged:
        raise PointDamagedError("no chunk was collected: %d point%s cannot be read, and their chunks cannot be told from "
                                "garbage (%s); repair or remove them, then collect again" % (
                                    len(damaged), "" if len(damaged) == 1 else "s", "; ".join(d["problem"] for d in damaged)),
                                details={"damaged_points": damaged})
    report = GarbageReport()
    for folder in _leftover_point_folders(repository):
        if dry_run or _deleted(report, repository.storage.delete_tree, folder):
            report.unfinished_points_removed.append(folder)
    in_use = referenced_chunks(repository, kept)
    for name, stored in repository.chunks.stored():
        if is_chunk_name(name) and bytes.fromhex(name) in in_use:
            continue
        if not dry_run and not _deleted(report, repository.storage.delete, stored.key):
            continue
        if is_chunk_name(name):
            report.chunks_removed += 1
            report.bytes_freed += stored.size
        else:
            report.temporary_files_removed += 1
    return report


def _deleted(report: GarbageReport, delete, key: str) -> bool:
    """Whether delete(key) deleted it; one still locked is counted in the report and kept."""
    try:
        delete(key)
    except ObjectLockedError as exc:
        report.locked_kept += 1
        until = exc.until.strftime("%Y-%m-%dT%H:%M:%SZ")
        report.locked_until = max(report.locked_until or until, until)
        return False
    return True
