"""The collection's metadata stays complete: action group, docs, changelog fragments."""
import os
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
