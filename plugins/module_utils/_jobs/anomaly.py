# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a new point looks like ransomware at work, judged from what its backup already knows:
per disk, how much changed and how well the new data compressed, against the same VM's earlier
points that were not suspicious themselves. Encryption touches much of a disk at once and leaves
data that does not compress; normal guest activity changes a few per cent a day, and what it
writes compresses (docs/ransomware.md has the measurements behind the defaults). No Ansible
imports.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import List, Optional

MIB = 1 << 20
# A VM whose new data usually stores above this (media, compressed archives, encrypted guests)
# cannot show encryption by its compressibility: only its change is judged.
MAX_USUAL_RATIO = 0.8


@dataclasses.dataclass(frozen=True)
class AnomalyThresholds:
    enabled: bool = True  # false: no point is judged (nor ever marked suspicious)
    history: int = 7  # earlier points compared with (not suspicious ones): a week of daily backups
    min_history: int = 3  # fewer than this and a disk is not judged (recorded as such)
    change_factor: float = 4.0  # changed bytes against the median of the history's
    min_changed_percent: float = 10.0  # and at least this much of the disk, so a quiet VM's small jump is no alarm
    incompressible_percent: float = 50.0  # of the new data, estimated from its ratio against the VM's usual one
    min_new_mib: int = 64  # new data below this is too little to judge

    @classmethod
    def from_options(cls, given: Optional[dict]) -> "AnomalyThresholds":
        return cls(**{k: v for k, v in (given or {}).items() if v is not None})


def disk_figures(disk: dict, chunk_size: int, has_parent: bool) -> dict:
    """What one disk of a manifest says: changed bytes, the new data's plain bytes (chunks the
    repository did not hold) and what storing them took. Changed bytes are CBT's areas for an
    incremental; for a full read after an earlier point (CBT off or reset) the new data stands for
    them, as deduplication against that point leaves only what changed; a point without a parent
    (a VM's first, a forced full) says nothing of change (None)."""
    stats = disk.get("stats") or {}
    new = stats.get("new_bytes", stats.get("new_chunks", 0) * chunk_size)  # points before new_bytes was recorded
    if stats.get("kind") == "incremental":
        changed = sum(length for _offset, length in disk.get("changed_extents") or [])
    else:
        changed = new if has_parent else None
    stored = stats.get("stored_bytes", 0)
    return {"key": disk["key"], "capacity_bytes": disk["capacity_bytes"], "changed_bytes": changed, "new_bytes": new,
            "stored_bytes": stored, "ratio": round(stored / new, 4) if new else None}


def is_suspicious(manifest: dict) -> bool:
    return bool((manifest.get("anomaly") or {}).get("suspicious"))


def _percent(part, whole) -> float:
    return 100.0 * part / whole if whole else 0.0


def judge(disks: List[dict], has_parent: bool, history: List[dict], chunk_size: int, thresholds: AnomalyThresholds) -> dict:
    """The anomaly record of a new point: disks are its manifest disks, has_parent whether it has
    a parent point, history the VM's earlier manifests, oldest first. Suspicious when any disk's
    change jumps (change_spike) or most of its new data is incompressible while the VM's usually is
    not (incompressible)."""
    t = thresholds
    earlier = [m for m in history if not is_suspicious(m)][-t.history:]
    reasons, judged = [], []
    for disk in disks:
        now = disk_figures(disk, chunk_size, has_parent)
        past = [disk_figures(d, chunk_size, bool(m.get("parent"))) for m in earlier for d in m["disks"] if d["key"] == disk["key"]]
        changes = [p["changed_bytes"] for p in past if p["changed_bytes"] is not None]
        # pooled: a daily incremental writes too little new data for its own ratio to say much
        wrote = [p for p in past if p["new_bytes"]]
        usual = sum(p["stored_bytes"] for p in wrote) / sum(p["new_bytes"] for p in wrote) if wrote else None
        # new data is a mix of what compresses as usual and what does not compress at all (ratio 1):
        # its ratio tells how much of it is the latter
        share = (100.0 * max(0.0, now["ratio"] - usual) / (1 - usual)
                 if now["ratio"] is not None and usual is not None and usual < MAX_USUAL_RATIO else None)
        now.update(median_changed_bytes=statistics.median(changes) if changes else None, history=len(changes),
                   usual_ratio=round(usual, 4) if usual is not None else None,
                   incompressible_percent=round(share, 1) if share is not None else None)
        judged.append(now)
        if now["changed_bytes"] is None or len(changes) < t.min_history:
            continue  # nothing said of change, or too little history to compare with
        changed, median = now["changed_bytes"], max(now["median_changed_bytes"], 1)
        percent = _percent(changed, now["capacity_bytes"])
        if percent >= t.min_changed_percent and changed >= t.change_factor * median:
            reasons.append({"reason": "change_spike", "disk": disk["key"], "message": (
                "disk %s: %.1f MiB changed (%.0f%% of the disk), %.1f times the median of the last %d points (%.1f MiB)" % (
                    disk["label"], changed / MIB, percent, changed / median, len(changes), median / MIB))})
        if (share is not None and share >= t.incompressible_percent and now["new_bytes"] >= t.min_new_mib * MIB
                and len(wrote) >= t.min_history):
            reasons.append({"reason": "incompressible", "disk": disk["key"], "message": (
                "disk %s: %.1f MiB of new data stored at %.2f of its size where this VM's usually stores at %.2f: about "
                "%.0f%% of it does not compress, as encrypted data does not" % (
                    disk["label"], now["new_bytes"] / MIB, now["ratio"], usual, share))})
    return {"suspicious": bool(reasons), "reasons": reasons, "disks": judged, "compared_with": [m["id"] for m in earlier],
            "thresholds": dataclasses.asdict(t)}
