# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A recovery drill's report: JSON for machines, one self-contained HTML page (no script, no
external file) for the person who reads it, and one line per VM for the job's output. No Ansible
imports.
"""

from __future__ import annotations

import html
import os
from typing import Dict, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils._drill.record import DrillRecord, DrillReport
from ansible_collections.vadp.vsphere.plugins.module_utils._files import write_json_atomically

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.passed { color: #0a6b2d; font-weight: bold; }
td.failed { color: #b00020; font-weight: bold; }
"""

_COLUMNS = ["VM", "Restore point", "Point age", "Verdict", "Recovery time", "IP", "Checks", "Reason"]


def duration(seconds: Optional[float]) -> str:
    """'41 s', '12 min', '5 h 3 min', '3 d 4 h'."""
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 120:
        return "%d s" % seconds
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours < 2:
        return "%d min" % minutes
    if days < 2:
        return "%d h %d min" % (hours, minutes % 60)
    return "%d d %d h" % (days, hours % 24)


def summary_line(drill: DrillRecord) -> str:
    """One line a person reads in the job's output."""
    point = "point %s (%s old)%s" % (drill.point or "-", duration(drill.point_age_seconds),
                                     ", SUSPICIOUS: %s" % drill.suspicious if drill.suspicious else "")
    if drill.verdict == "passed":
        return "%s: passed - %s, recovered in %s, IP %s" % (
            drill.vm, point, duration(drill.recovery_seconds), drill.ip or "none")
    return "%s: %s - %s - %s" % (drill.vm, drill.verdict.upper(), drill.reason or "", point)


def _checks(drill: DrillRecord) -> str:
    return ", ".join("%s %s" % (c.check, "ok" if c.ok else "failed") for c in drill.checks) or "-"


def render_html(report: DrillReport) -> str:
    rows = []
    for d in report.drills:
        cells = [d.vm, "%s (suspicious: %s)" % (d.point, d.suspicious) if d.suspicious else d.point or "-",
                 duration(d.point_age_seconds), d.verdict,
                 duration(d.recovery_seconds), d.ip or "-", _checks(d), d.reason or ""]
        rows.append("<tr>%s</tr>" % "".join(
            '<td class="%s">%s</td>' % (d.verdict, html.escape(str(c))) if i == 3 else "<td>%s</td>" % html.escape(str(c))
            for i, c in enumerate(cells)))
    title = "Recovery drill %s" % report.started
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{style}</style></head>
<body>
<h1>{title}</h1>
<p id="summary">{passed} of {total} VMs recovered and booted. Repository {repository}, network {network}, finished {finished}.</p>
<table id="drills">
<thead><tr>{head}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body></html>
""".format(title=html.escape(title), style=_STYLE, passed=report.passed, total=len(report.drills),
           repository=html.escape(report.repository), network=html.escape(report.network),
           finished=html.escape(report.finished), head="".join("<th>%s</th>" % c for c in _COLUMNS), rows="\n".join(rows))


def write_report(report: DrillReport, folder: str) -> Dict[str, str]:
    """The report as recovery-drill-<time>.json and .html in folder; their paths."""
    os.makedirs(folder, exist_ok=True)
    stem = os.path.join(folder, "recovery-drill-%s" % report.started.replace(":", "").replace("-", ""))
    write_json_atomically(stem + ".json", report.to_json())
    with open(stem + ".html.tmp", "w", encoding="utf-8") as f:
        f.write(render_html(report))
    os.replace(stem + ".html.tmp", stem + ".html")
    return {"json": stem + ".json", "html": stem + ".html"}
