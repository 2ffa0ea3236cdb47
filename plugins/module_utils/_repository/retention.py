# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which restore points a retention policy keeps (docs/retention.md). Pure logic, no I/O.

The rules are restic's and Proxmox Backup Server's as their users know them: each rule is
applied on its own to a VM's points, newest first, and a point kept by any rule stays. For a
period rule (hourly ... yearly) the newest point of each period is kept, for the N newest
periods that have a point (periods without one do not count). The newest point of a VM and
protected points are always kept.
"""

import datetime
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError


class RetentionInvalidError(VadpError):
    error_code = "RETENTION_INVALID"


PERIODS = {  # rule -> the period a point's time (UTC) falls in
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar())[:2],  # ISO year and week
    "monthly": lambda t: (t.year, t.month),
    "yearly": lambda t: (t.year,),
}
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?$")


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: Optional[str] = None  # a duration before the VM's newest point, such as 30d or 1y6m

    def __post_init__(self):
        counts = {name: getattr(self, name) for name in ("keep_last", *("keep_" + p for p in PERIODS))}
        negative = [name for name, value in counts.items() if value < 0]
        if negative:
            raise RetentionInvalidError("%s cannot be negative" % ", ".join(negative))
        if self.keep_within is not None:
            parse_duration(self.keep_within)
        if not any(counts.values()) and not self.keep_within:
            # every point but the newest would go: far more likely a missing variable than a wish
            raise RetentionInvalidError("the retention policy keeps nothing: give at least one of keep_last, keep_hourly, "
                                        "keep_daily, keep_weekly, keep_monthly, keep_yearly or keep_within")


@dataclass
class PointRef:
    """What retention needs of a point."""
    id: str
    time: datetime.datetime  # aware, UTC
    protected: bool = False


@dataclass
class Decision:
    id: str
    time: datetime.datetime
    reasons: List[str] = field(default_factory=list)  # why it is kept; empty: it goes

    @property
    def keep(self):
        return bool(self.reasons)


def parse_duration(text: str) -> Dict[str, int]:
    """'1y6m', '30d', '12h' (years, months, weeks, days, hours) -> its parts."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise RetentionInvalidError("keep_within %r is not a duration such as 30d, 12h, 2w, 6m or 1y6m" % (text,))
    parts = dict(zip(("years", "months", "weeks", "days", "hours"), (int(g or 0) for g in match.groups())))
    if not any(parts.values()):  # it would keep the newest point alone, as no rule at all would
        raise RetentionInvalidError("keep_within %r keeps nothing but the newest point: give a longer duration, or "
                                    "keep_last 1 if that is really meant" % (text,))
    return parts


def _months_before(moment: datetime.datetime, months: int) -> datetime.datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    day = moment.day
    while True:  # 31 March minus one month is the last day of February
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


_EARLIEST = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)


def within_start(newest: datetime.datetime, duration: str) -> datetime.datetime:
    """The oldest time keep_within keeps. A duration that reaches back before the year 1 (9999y:
    "keep forever") keeps every point."""
    parts = parse_duration(duration)
    months = parts["years"] * 12 + parts["months"]
    if months >= newest.year * 12 + newest.month - 1:
        return _EARLIEST
    try:
        return _months_before(newest, months) - datetime.timedelta(weeks=parts["weeks"], days=parts["days"],
                                                                   hours=parts["hours"])
    except OverflowError:
        return _EARLIEST


def decide(points: Sequence[PointRef], policy: RetentionPolicy) -> List[Decision]:
    """One decision a point of one VM, newest first."""
    ordered = sorted(points, key=lambda p: (p.time, p.id), reverse=True)
    decisions = [Decision(p.id, p.time) for p in ordered]
    if not decisions:
        return decisions
    decisions[0].reasons.append("newest")
    for point, decision in zip(ordered, decisions):
        if point.protected:
            decision.reasons.append("protected")
    for decision in decisions[:policy.keep_last]:
        decision.reasons.append("last")
    for period, period_of in PERIODS.items():
        wanted, seen = getattr(policy, "keep_" + period), None
        for decision in decisions:
            if wanted <= 0:
                break
            bucket = period_of(decision.time)
            if bucket != seen:
                decision.reasons.append(period)
                seen, wanted = bucket, wanted - 1
    if policy.keep_within:
        start = within_start(decisions[0].time, policy.keep_within)
        for decision in decisions:
            if decision.time >= start:
                decision.reasons.append("within")
    return decisions
