"""Documentation that cannot drift: every module's result, as the suite's own runs of it returned
it, against its RETURN documentation. Runs after every other test (conftest puts it last), on
what they recorded (tests/support/modules.py RESULTS)."""
import importlib

import pytest
import yaml

from modules import RESULTS

# What every module may return beside its own keys: Ansible's, and a failure's
COMMON = {"changed", "failed", "msg", "invocation", "warnings", "deprecations", "skipped", "error_code", "exception", "diff"}


def _documented(module):
    code = importlib.import_module("ansible_collections.vadp.vsphere.plugins.modules." + module)
    return yaml.safe_load(code.RETURN) or {}


def _dicts(value):
    """The dicts a returned value holds: itself, or the elements of a list."""
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, dict)]


def drift(module, runs):
    """What a module's successful results and its RETURN documentation disagree on, as lines: a
    key returned and not documented, a key documented as always returned and missing, a sample
    of a list of dicts showing keys no result's elements ever had."""
    documented = _documented(module)
    problems, seen_keys = set(), {}
    for check_mode, result in runs:
        if result.get("failed") or result.get("skipped"):
            continue  # a failure's keys are its error's details (docs/architecture.md lists the codes)
        for key in sorted(set(result) - set(documented) - COMMON):
            problems.add("%s returns %s, which RETURN does not document" % (module, key))
        for key, doc in documented.items():
            if doc.get("returned") == "always" and key not in result and not check_mode:
                problems.add("%s documents %s as returned always, and a run returned none" % (module, key))
            for element in _dicts(result.get(key)):
                seen_keys.setdefault(key, set()).update(element)
    for key, real in seen_keys.items():
        if documented[key].get("type") != "list":
            continue  # a dict's keys may be data (a disk key per entry); a list's elements are records
        for sample in _dicts(documented[key].get("sample")):
            if set(sample) - real:
                problems.add("%s's sample of %s shows %s, which no result's %s had" % (module, key, sorted(set(sample) - real), key))
    return sorted(problems)


@pytest.mark.after_all_other_tests
def test_every_module_returns_what_its_documentation_says():
    if not RESULTS:
        pytest.skip("no module ran in this session")
    problems = [line for module in sorted(RESULTS) for line in drift(module, RESULTS[module])]
    assert problems == [], "\n".join(problems)


def test_the_check_finds_an_undocumented_key_and_a_wrong_sample():
    """The check is real: a result with a key RETURN lacks, and one whose list elements lack a key
    the sample shows (vmdk_restore's disks), are both named."""
    made_up = [(False, {"changed": True, "not_documented": 1, "disks": [{"key": 2000}]})]
    found = " ".join(drift("vmdk_restore", made_up))
    assert "vmdk_restore returns not_documented" in found and "sample of disks" in found
