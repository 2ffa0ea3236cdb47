# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a recovery drill records: per VM a DrillRecord (its point, verdict, timings, checks), and
the DrillReport of the whole drill; both become the module's result and the report's JSON as
they are (to_json). No Ansible imports.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

VERDICTS = ("planned", "passed", "failed")


@dataclasses.dataclass
class DrillCheck:
    """One check of a booted drill VM (tcp/PORT): whether it answered, and what was seen."""
    check: str
    ok: bool
    detail: str = ""


@dataclasses.dataclass
class DrillRecord:
    """One VM's drill, filled in as it goes: planned, then passed or failed (with the reason)."""
    vm: str
    drill_vm: str
    point: Optional[str] = None
    point_time: Optional[str] = None
    point_age_seconds: Optional[int] = None
    suspicious: Optional[str] = None  # why its backup marked the point suspicious (anomaly), or None
    verdict: str = "failed"  # until it has passed
    reason: Optional[str] = None
    recovery_seconds: Optional[float] = None  # from the start of its recovery to VMware Tools running
    phases: Dict[str, float] = dataclasses.field(default_factory=dict)  # create, restore and boot seconds
    ip: Optional[str] = None
    checks: List[DrillCheck] = dataclasses.field(default_factory=list)
    cleaned_up: bool = False  # the drill VM was deleted

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class DrillReport:
    started: str
    finished: str
    repository: str
    network: str
    restore_point: str
    leftovers_removed: List[str]
    drills: List[DrillRecord]

    @property
    def passed(self) -> int:
        return sum(d.verdict == "passed" for d in self.drills)

    def to_json(self) -> dict:
        return dict(dataclasses.asdict(self), passed=self.passed)
