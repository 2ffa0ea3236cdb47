"""The README's first command runs playbooks/demo.yml on the lab; this runs it the same way."""
import os
import subprocess

import pytest

from conftest import ROOT, destroy_vms, find_vm_by_name, run_module, settle


@pytest.mark.parametrize("where", ["folder", "bucket"])
def test_the_demo_restores_and_recovers_with_every_checksum_matching(si, tmp_path, where):
    repository = str(tmp_path / "repo") if where == "folder" else "s3://%s/demo-test" % os.environ["LAB_S3_BUCKET"]
    env = dict(os.environ, DEMO_REPOSITORY=repository)
    try:
        process = subprocess.run(["ansible-playbook", os.path.join(ROOT, "playbooks", "demo.yml")], capture_output=True,
                                 text=True, env=env, cwd=ROOT, check=False)
        out = process.stdout + process.stderr
        assert process.returncode == 0, out
        assert "SHA-256 of every disk matches its restore point" in out and "(incremental, " in out
        assert "DC0_H0_VM1-recovered: passed" in out
        [html] = [line.split("Report: ")[1].split('"')[0].strip() for line in out.splitlines() if "Report: " in line]
        assert html.startswith(str(tmp_path) if where == "folder" else "/tmp/vadp-demo-drills") and os.path.exists(html), html
        assert "into %s" % repository in out
    finally:
        destroy_vms(si, "DC0_H0_VM1-recovered")
        [vm] = find_vm_by_name(si, "DC0_H0_VM1")
        run_module("vadp.vsphere.vm_cbt", {"name": "DC0_H0_VM1", "state": "disabled"})
        settle(vm)


def test_the_demo_refuses_to_start_against_anything_but_the_lab(tmp_path):
    """The README once sent real-vCenter users to the demo, which puts a VM back to an earlier point:
    pointed elsewhere, it stops at its first task, before any backup or repository change."""
    repository = tmp_path / "repo"
    repository.mkdir()
    (repository / "keep").write_text("an admin's file")
    env = dict(os.environ, DEMO_REPOSITORY=str(repository), VMWARE_HOST="vcenter.example.com")
    process = subprocess.run(["ansible-playbook", os.path.join(ROOT, "playbooks", "demo.yml")], capture_output=True,
                             text=True, env=env, cwd=ROOT, check=False)
    out = process.stdout + process.stderr
    assert process.returncode != 0 and "The demo runs only on the lab" in out and "vcenter.example.com" in out
    assert "ok=0" in out and (repository / "keep").read_text() == "an admin's file"
