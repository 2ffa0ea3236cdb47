# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Immutable points (docs/restore-point-format.md, "Immutable points"): every object a point needs
is locked in S3 Object Lock's compliance mode, which nobody (the bucket's owner included) can
shorten or lift, until the point's date. Locks are set ahead in blocks, as Veeam's block
generations do: an object is locked to its point's date plus a block, so the next backups, whose
dates fall inside the block, find their shared chunks locked already and lock only their new
ones. No Ansible imports.
"""

import datetime
from dataclasses import dataclass
from typing import Optional

from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointImmutableError

MAX_BLOCK = datetime.timedelta(days=10)


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


@dataclass(frozen=True)
class RetentionLock:
    """until: no object of the point may go before it; target: the date objects are locked to."""
    until: datetime.datetime
    target: datetime.datetime

    @classmethod
    def for_days(cls, days: float, now: Optional[datetime.datetime] = None) -> "RetentionLock":
        """A lock of `days` from now; the block is a third of the period, at most 10 days."""
        now = (now or datetime.datetime.now(datetime.timezone.utc)).replace(microsecond=0)
        period = datetime.timedelta(days=days)
        until = now + period
        return cls(until, until + min(MAX_BLOCK, period / 3))

    def needs(self, locked_until: Optional[datetime.datetime]) -> bool:
        """Whether an object locked until locked_until (None: not locked) must be locked longer."""
        return locked_until is None or locked_until < self.until

    def to_json(self) -> dict:
        return {"until": stamp(self.until), "target": stamp(self.target)}

    @classmethod
    def from_json(cls, value: Optional[dict]) -> Optional["RetentionLock"]:
        return cls(parse_stamp(value["until"]), parse_stamp(value["target"])) if value else None


def point_locked_until(manifest: dict) -> Optional[datetime.datetime]:
    """The date before which none of the point's objects can be deleted, or None."""
    recorded = (manifest.get("immutable") or {}).get("until")
    return parse_stamp(recorded) if recorded else None


def objects_locked_until(manifest: dict) -> Optional[datetime.datetime]:
    """The earliest date any object of the point is locked until (what a later point can count on)."""
    recorded = (manifest.get("immutable") or {}).get("locked_until")
    return parse_stamp(recorded) if recorded else None


def refuse_delete_while_locked(manifest: dict, now: Optional[datetime.datetime] = None) -> None:
    until = point_locked_until(manifest)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if until is not None and until > now:
        raise PointImmutableError("point %s of %s is immutable until %s UTC: nobody can delete it before then (Object "
                                  "Lock, compliance mode); delete it after that date" % (
                                      manifest["id"], manifest["vm"]["name"], stamp(until)),
                                  details={"immutable_until": stamp(until)})
