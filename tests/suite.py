"""`make test`: every stage of the suite, the independent ones side by side, then a table of what
each stage took and the slowest tests, so that the suite's cost shows in every CI log. Time is
reported here, never asserted. A failed stage does not stop the others; the run fails at the end.

Stages: sanity, lint and the lab's Go build and tests run at once (they share nothing, and the Go
build waits on the compiler while sanity waits on its virtual environments); then the unit tests
beside the integration tests against the lab (the units start what they need on free loopback
ports, and no test depends on timing, so a busy machine only makes both slower). Standard library
only.
"""
import os
import subprocess
import sys
import tempfile
import threading
import time
from xml.etree import ElementTree

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LAB = os.path.join(ROOT, "tests", "lab", "lab")
SLOWEST = 15
PYTEST = [sys.executable, "-m", "pytest", "-q", "-o", "tmp_path_retention_policy=failed"]


class Stage:
    def __init__(self, name, command):
        self.name, self.command = name, command
        self.seconds, self.code, self.output = 0.0, None, ""

    def run(self, quiet):
        """Run the command; a stage run beside others keeps its output until it ends, so the log
        shows each stage's lines together."""
        started = time.monotonic()
        if quiet:
            with tempfile.TemporaryFile("w+") as log:
                self.code = subprocess.run(self.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                           check=False).returncode
                log.seek(0)
                self.output = log.read()
        else:
            print("==> %s" % self.name, flush=True)
            self.code = subprocess.run(self.command, cwd=ROOT, check=False).returncode
        self.seconds = time.monotonic() - started


def _side_by_side(stages):
    threads = [threading.Thread(target=s.run, args=(True,)) for s in stages]
    for thread in threads:
        thread.start()
    for stage, thread in zip(stages, threads):
        thread.join()
        print("==> %s (beside %s)" % (stage.name, ", ".join(s.name for s in stages if s is not stage)), flush=True)
        sys.stdout.write(stage.output)
        sys.stdout.flush()


def _test_cases(reports):
    """(seconds, name, outcome) of every test case in the JUnit reports pytest wrote."""
    cases = []
    for report in reports:
        if os.path.exists(report):
            for case in ElementTree.parse(report).iter("testcase"):
                outcome = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
                cases.append((float(case.get("time") or 0), "%s::%s" % (case.get("classname"), case.get("name")), outcome))
    return cases


def main():
    reports = tempfile.mkdtemp(prefix="vadp-suite-")
    units_report, integration_report = os.path.join(reports, "units.xml"), os.path.join(reports, "integration.xml")
    first = [Stage("sanity", [os.path.join(ROOT, "tests", "sanity", "run.sh")]),
             Stage("lint", ["ansible-lint", "roles", "playbooks"]),
             Stage("lab build and Go tests", [LAB, "gotest"])]
    later = [Stage("unit tests", PYTEST + ["--junitxml", units_report, "tests/unit"]),
             Stage("integration tests", [LAB, "run", "--"] + PYTEST + ["--junitxml", integration_report, "tests/integration"])]
    started = time.monotonic()
    _side_by_side(first)
    _side_by_side(later)  # the units (their slow part: crash tests against their own S3 server) beside the lab's tests
    total = time.monotonic() - started

    print("\n==> what the suite took")
    for stage in first + later:
        print("  %-24s %7.1f s  %s" % (stage.name, stage.seconds, "ok" if stage.code == 0 else "FAILED (exit %s)" % stage.code))
    print("  %-24s %7.1f s  (sanity, lint and the lab's Go stage side by side; then units beside integration)" % (
        "all", total))
    cases = _test_cases([units_report, integration_report])
    print("\n==> the %d slowest tests" % SLOWEST)
    for seconds, name, _outcome in sorted(cases, reverse=True)[:SLOWEST]:
        print("  %7.1f s  %s" % (seconds, name))
    failed = [s.name for s in first + later if s.code != 0]
    if failed:
        print("\nfailed stages: %s" % ", ".join(failed))
    outcomes = [outcome for _s, _n, outcome in cases]
    # the closing line CI reads: the unit and integration tests together
    failures = outcomes.count("failure") + outcomes.count("error")
    print("\nsuite: %d passed, %d failed, %d skipped" % (outcomes.count("passed"), failures, outcomes.count("skipped")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
