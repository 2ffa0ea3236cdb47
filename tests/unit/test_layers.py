"""The layering rule of docs/architecture.md, checked over every import in plugins/module_utils:
a file imports its own package and the layers below its own, never a package beside it or above."""
import ast
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE = os.path.join(ROOT, "plugins", "module_utils")
PREFIX = "ansible_collections.vadp.vsphere.plugins.module_utils."

# top to bottom, as docs/architecture.md says
LAYERS = [("module_base",), ("connection_spec",), ("_jobs",), ("_drill", "_export", "_recreate"), ("_transfer",), ("_repository", "_vsphere"),
          ("errors", "_files", "extents")]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def _package(relative):
    """The package of a module_utils path or dotted name: its first part."""
    return relative.replace(os.sep, ".").split(".")[0]


def _imports(path):
    """Every module_utils module the file at path imports, as its dotted name below module_utils."""
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            if name.startswith(PREFIX):
                yield name[len(PREFIX):]
            elif name == PREFIX.rstrip("."):  # from ...module_utils import extents
                yield from (a.name for a in node.names)


def layer_violations(base=BASE):
    """(file, imported module) of every import that goes sideways or upwards."""
    found = []
    for folder, _dirs, files in os.walk(base):
        for name in sorted(files):
            if not name.endswith(".py") or name == "__init__.py":
                continue
            path = os.path.join(folder, name)
            own = _package(os.path.relpath(path, base))
            for imported in _imports(path):
                other = _package(imported)
                if other != own and RANK[other] <= RANK[own]:
                    found.append((os.path.relpath(path, base), imported))
    return found


def test_every_package_has_a_layer():
    packages = {_package(n) for n in os.listdir(BASE) if n != "__init__.py" and not n.startswith("__")}
    assert packages == set(RANK), "give each package a layer here and in docs/architecture.md: %s" % (packages ^ set(RANK))


def test_imports_go_downwards_only():
    assert layer_violations() == []


def test_the_check_finds_an_upward_import(tmp_path):
    """The rule is really checked: an upward and a sideways import in a copy of the tree are found."""
    for package, line in (("_repository", "from %s_jobs.restore_plan import disk_plan\n" % PREFIX),
                          ("_export", "from %s_recreate import nvram\n" % PREFIX)):
        (tmp_path / package).mkdir()
        (tmp_path / package / "bad.py").write_text(line)
    assert sorted(layer_violations(str(tmp_path))) == [("_export/bad.py", "_recreate"), ("_repository/bad.py", "_jobs.restore_plan")]
