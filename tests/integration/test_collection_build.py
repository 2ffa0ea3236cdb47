"""The built collection: no lab binaries or local state inside, and installed it works."""
import glob
import os
import subprocess
import tarfile

from conftest import ROOT, run_module


def test_built_tarball_installs_and_runs(lab, tmp_path):
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), ROOT],
                   check=True, capture_output=True)
    [tarball] = glob.glob(str(tmp_path / "vadp-vsphere-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "plugins/modules/vm_info.py" in names and "meta/runtime.yml" in names
    unwanted = [n for n in names if n.startswith((".venv", ".build", "tests/lab/.build", "tests/lab/.run", ".git/"))
                or "__pycache__" in n]
    assert unwanted == []
    assert os.path.getsize(tarball) < 1024 * 1024  # sources only

    installed = tmp_path / "installed"
    subprocess.run(["ansible-galaxy", "collection", "install", "--force", tarball, "-p", str(installed)],
                   check=True, capture_output=True)
    result = run_module("vadp.vsphere.vm_info", {"name": "DC0_H0_VM0"},
                        env={"ANSIBLE_COLLECTIONS_PATH": str(installed)})
    assert not result.get("failed"), result
    assert result["vm"]["name"] == "DC0_H0_VM0"
