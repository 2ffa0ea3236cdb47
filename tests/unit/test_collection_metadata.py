"""The collection's metadata stays complete: action group, docs, changelog fragments."""
import os
import re
import subprocess
import sys

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
    assert [c for c in sorted(codes) if c not in table and c not in ("VADP_ERROR", "VSPHERE_ERROR")] == []


MODULE_CODE_LINES = 40  # a module's own code beyond its documentation and imports, at most


def module_code_lines(source):
    """Lines of a module's own code: not its DOCUMENTATION, EXAMPLES or RETURN, imports, docstrings,
    comments or blank lines. What remains is the argument spec and the call into module_utils."""
    import ast
    tree, lines = ast.parse(source), source.splitlines()
    counted = set()
    for node in tree.body:
        documentation = isinstance(node, ast.Assign) and {getattr(t, "id", None) for t in node.targets} <= {
            "DOCUMENTATION", "EXAMPLES", "RETURN"}
        if not (documentation or isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr))):
            counted.update(range(node.lineno, node.end_lineno + 1))
    for node in ast.walk(tree):  # docstrings are documentation too
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and isinstance(node.body[0], ast.Expr) \
                and isinstance(node.body[0].value, ast.Constant):
            counted -= set(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    return len([n for n in counted if lines[n - 1].strip() and not lines[n - 1].strip().startswith("#")])


def test_modules_are_thin():
    """A whole module is its options and a call into module_utils: the logic lives where it can be
    used and tested without Ansible."""
    sizes = {}
    for name in _modules():
        with open(os.path.join(ROOT, "plugins", "modules", name + ".py")) as f:
            sizes[name] = module_code_lines(f.read())
    fat = {name: size for name, size in sizes.items() if size > MODULE_CODE_LINES}
    assert fat == {}, "modules with more than %d lines of code: %s" % (MODULE_CODE_LINES, fat)


def test_the_thinness_count_sees_logic_and_not_documentation():
    documentation = "DOCUMENTATION = r\'\'\'\n%s\'\'\'\n" % ("x: y\n" * 200)
    logic = "def main():\n    \"\"\"Says what.\"\"\"\n" + "".join("    a%d = %d  # why\n" % (i, i) for i in range(45))
    assert module_code_lines(documentation + "import os\n\n" + logic) == 46  # def line and 45 statements


def test_nothing_shipped_sends_a_user_outside_the_repository():
    """Module docs, roles and docs speak in the project's own words: no pointer to the background
    material this project started from (the lab's --seed option for random data is fine)."""
    found = subprocess.run(["grep", "-rnE", "restore-rules|the seed|seed/|\\.\\./shared|shared/fixtures",
                            "plugins", "roles", "docs", "README.md", "playbooks"],
                           cwd=ROOT, capture_output=True, text=True, check=False).stdout
    assert found == "", found


def test_every_role_has_a_readme_naming_its_variables_with_an_example_that_uses_only_them():
    """Galaxy refuses a collection whose roles have no README; a README that drifts from the role's
    argument_specs would send an admin after variables that do not exist."""
    import yaml
    for role in sorted(os.listdir(os.path.join(ROOT, "roles"))):
        with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as f:
            options = yaml.safe_load(f)["argument_specs"]["main"]["options"]
        with open(os.path.join(ROOT, "roles", role, "README.md")) as f:
            readme = f.read()
        missing = [name for name in options if "`%s`" % name not in readme]
        assert not missing, "roles/%s/README.md does not name %s" % (role, ", ".join(missing))
        example = yaml.safe_load(readme.split("```yaml\n", 1)[1].split("```", 1)[0])
        used = set()
        stack = [example]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                used.update(item.get("vars") or {})
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        assert used and used <= set(options), "roles/%s/README.md's example uses %s" % (role, sorted(used - set(options)))
        required = {name for name, o in options.items() if o.get("required")}
        assert required <= used, "roles/%s/README.md's example lacks %s" % (role, sorted(required - used))


def test_galaxy_importer_accepts_the_built_collection_without_a_warning(tmp_path):
    """What Galaxy and Automation Hub run on upload: metadata, documentation of every plugin, role
    READMEs, the changelog and ansible-lint, on the tarball a user would upload."""
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), ROOT],
                   check=True, capture_output=True)
    [tarball] = [name for name in os.listdir(str(tmp_path)) if name.endswith(".tar.gz")]
    env = dict(os.environ, GALAXY_IMPORTER_CONFIG=os.path.join(ROOT, "tests", "galaxy-importer.cfg"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    done = subprocess.run([sys.executable, "-m", "galaxy_importer.main", tarball], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    complaints = [line for line in output.splitlines() if line.startswith(("ERROR", "WARNING"))]
    assert done.returncode == 0 and complaints == [], output[-3000:]


def test_antsibull_docs_finds_nothing_wrong_in_the_plugin_docs():
    """The checks Ansible's own collections run on their documentation (markup, links between
    plugins and options, return values, role argument specs)."""
    done = subprocess.run(["antsibull-docs", "lint-collection-docs", "--plugin-docs", ROOT], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
