"""A recovery drill's report: the HTML page opens in a real browser (headless Chromium) with its
table of VMs as the person reading it sees it; names from vSphere are escaped, not markup."""
import html.parser
import json
import shutil
import subprocess

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._drill.record import DrillCheck, DrillRecord, DrillReport
from ansible_collections.vadp.vsphere.plugins.module_utils._drill.report import duration, summary_line, write_report

REPORT = DrillReport(started="2026-12-03T10:00:00Z", finished="2026-12-03T10:05:00Z", repository="/backups",
                     network="Isolated Network", restore_point="latest", leftovers_removed=[], drills=[
                         DrillRecord(vm="web01", drill_vm="vadp-drill-web01", point="20261203T020000Z-aa",
                                     point_age_seconds=28800, verdict="passed", recovery_seconds=41.2, ip="10.1.2.3",
                                     checks=[DrillCheck("tcp/22", True, "10.1.2.3:22 answered")], cleaned_up=True),
                         DrillRecord(vm="db<01>&", drill_vm="vadp-drill-db<01>&", point="20261202T020000Z-bb",
                                     point_age_seconds=115200, verdict="failed", reason="no heartbeat within 20 s",
                                     suspicious="disk Hard disk 1: 900.0 MiB changed")])


class _Table(html.parser.HTMLParser):
    """The rows of the page's table#drills, as the text of their cells."""

    def __init__(self):
        super().__init__()
        self.rows, self._in_table, self._cell = [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("id", "drills") in attrs:
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif self._cell is not None and tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium is installed by tests/bootstrap.sh")
def test_the_html_report_opens_in_chromium_with_a_row_per_vm(tmp_path):
    paths = write_report(REPORT, str(tmp_path))
    with open(paths["json"]) as f:
        assert json.load(f) == REPORT.to_json() and REPORT.to_json()["passed"] == 1
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + paths["html"]],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    table = _Table()
    table.feed(dom)
    assert table.rows == [
        ["VM", "Restore point", "Point age", "Verdict", "Recovery time", "IP", "Checks", "Reason"],
        ["web01", "20261203T020000Z-aa", "8 h 0 min", "passed", "41 s", "10.1.2.3", "tcp/22 ok", ""],
        ["db<01>&", "20261202T020000Z-bb (suspicious: disk Hard disk 1: 900.0 MiB changed)", "32 h 0 min", "failed", "-", "-",
         "-", "no heartbeat within 20 s"]]
    assert "1 of 2 VMs recovered and booted" in dom


def test_summary_lines_and_durations():
    assert [summary_line(d) for d in REPORT.drills] == [
        "web01: passed - point 20261203T020000Z-aa (8 h 0 min old), recovered in 41 s, IP 10.1.2.3",
        "db<01>&: FAILED - no heartbeat within 20 s - point 20261202T020000Z-bb (32 h 0 min old), SUSPICIOUS: disk Hard disk 1: "
        "900.0 MiB changed"]
    assert [duration(s) for s in (None, 5, 119.6, 600, 7200, 200000)] == ["-", "5 s", "2 min", "10 min", "2 h 0 min", "2 d 7 h"]
