"""The collection's metadata stays complete: action group, docs, changelog fragments."""
import os
import re
import subprocess

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _modules():
    folder = os.path.join(ROOT, "plugins", "modules")
    return sorted(name[:-3] for name in os.listdir(folder) if name.endswith(".py") and not name.startswith("_"))


def test_every_module_is_in_the_vsphere_action_group():
    with open(os.path.join(ROOT, "meta", "runtime.yml")) as f:
        group = yaml.safe_load(f)["action_groups"]["vsphere"]
    assert sorted(group) == _modules()


def test_ansible_doc_renders_every_module():
    for module in _modules():
        out = subprocess.run(["ansible-doc", "vadp.vsphere." + module], capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        assert "EXAMPLES:" in out.stdout and "RETURN VALUES:" in out.stdout


def _layout_block():
    with open(os.path.join(ROOT, "docs", "architecture.md")) as f:
        text = f.read()
    return text.split("```")[1]


def test_the_architecture_page_names_every_package_and_file():
    """docs/architecture.md's layout matches the tree: a package or file added, moved or removed
    shows here until the page says so."""
    layout = _layout_block()
    base = os.path.join(ROOT, "plugins", "module_utils")
    for folder, _dirs, files in os.walk(base):
        if "__pycache__" in folder:
            continue
        package = os.path.relpath(folder, base)
        if package != ".":
            assert package + "/" in layout, "docs/architecture.md does not name the package %s/" % package
        for name in files:
            if name.endswith(".py") and name != "__init__.py":
                assert name in layout, "docs/architecture.md does not name %s/%s" % (package, name)
    named = set(re.findall(r"\b([a-z_]+\.py)\b", layout)) - {"demo.py"}
    existing = {n for _f, _d, files in os.walk(base) for n in files} | set(os.listdir(os.path.join(ROOT, "plugins", "modules")))
    assert named <= existing, "docs/architecture.md names files that do not exist: %s" % sorted(named - existing)


def test_every_error_code_is_documented_once_per_class():
    """One class per error code, and each code in docs/architecture.md's table."""
    codes = {}
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "plugins")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name)) as f:
                    for code in re.findall(r'^\s+error_code = "([A-Z_]+)"', f.read(), re.M):
                        codes.setdefault(code, []).append(name)
    with open(os.path.join(ROOT, "docs", "architecture.md")) as f:
        table = f.read().split("## Errors")[1]
    assert {c: where for c, where in codes.items() if len(where) > 1} == {}
    assert [c for c in sorted(codes) if c not in table and c != "VSPHERE_ERROR"] == []


def test_modules_are_thin():
    """A module's execute only turns options into a job (or client call) and returns its result."""
    import ast
    longest = {}
    for name in sorted(os.listdir(os.path.join(ROOT, "plugins", "modules"))):
        if name.endswith(".py"):
            with open(os.path.join(ROOT, "plugins", "modules", name)) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name in ("execute", "main"):
                    longest[name + ":" + node.name] = node.end_lineno - node.lineno + 1
    assert longest and max(longest.values()) < 40, sorted(longest.items(), key=lambda item: -item[1])[:3]


def test_nothing_shipped_sends_a_user_outside_the_repository():
    """Module docs, roles and docs speak in the project's own words: no pointer to the background
    material this project started from (the lab's --seed option for random data is fine)."""
    found = subprocess.run(["grep", "-rnE", "restore-rules|the seed|seed/|\\.\\./shared|shared/fixtures",
                            "plugins", "roles", "docs", "README.md", "playbooks"],
                           cwd=ROOT, capture_output=True, text=True, check=False).stdout
    assert found == "", found
