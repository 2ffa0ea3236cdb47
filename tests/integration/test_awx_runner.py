"""The AWX path: a job playbook run through ansible-runner, the engine AWX runs inside its
execution environments, with only the environment AWX's VMware credential injects
(tests/unit/test_execution_environment.py checks the image definition)."""
import os

import ansible_runner
import pytest

from conftest import ROOT, Repository, create_vm, destroy_vm, destroy_vms, image_sha, wait

VM, MIB = "lab-awx", 1 << 20
# What AWX's "VMware vCenter" credential type injects into a job's environment.
AWX_VMWARE_CREDENTIAL = ("VMWARE_HOST", "VMWARE_USER", "VMWARE_PASSWORD", "VMWARE_VALIDATE_CERTS")
# What the execution environment adds: the lab's port and CA (a custom credential or the image's
# trust store on a real AWX), and where the image keeps VDDK.
EXECUTION_ENVIRONMENT = ("VMWARE_PORT", "VMWARE_CA_BUNDLE", "VDDK_LIBDIR")


@pytest.fixture
def vm(si, lab):
    destroy_vms(si, VM)
    machine = create_vm(si, VM, [16])
    wait(machine.PowerOnVM_Task())
    lab.guest_write(VM, offset=2 * MIB, length=MIB, seed=int.from_bytes(os.urandom(4), "big"))
    yield machine
    destroy_vm(machine)


def run_job(tmp_path, monkeypatch, playbook, extravars):
    """A job as AWX runs it: ansible-runner with a private data folder and only the injected
    environment (this test process's own VMWARE_* and LAB_* settings are taken away first)."""
    injected = {name: os.environ[name] for name in AWX_VMWARE_CREDENTIAL + EXECUTION_ENVIRONMENT}
    for name in list(os.environ):
        if name.startswith(("VMWARE_", "VADP_", "LAB_", "VDDK_")):
            monkeypatch.delenv(name)
    (tmp_path / "runner").mkdir()
    return ansible_runner.run(private_data_dir=str(tmp_path / "runner"), playbook=os.path.join(ROOT, "playbooks", playbook),
                              extravars=extravars, envvars=injected, quiet=True)


def test_the_backup_job_runs_under_ansible_runner_as_awx_runs_it(vm, lab, tmp_path, monkeypatch):
    repo, password = str(tmp_path / "repo"), os.environ["VMWARE_PASSWORD"]
    expected = lab.inspect(VM)["disks"][0]["sha256"]
    job = run_job(tmp_path, monkeypatch, "backup.yml", {"backup_vm": VM, "backup_repository": repo})
    output = job.stdout.read()
    assert job.status == "successful" and job.rc == 0, output
    assert password not in output
    [manifest] = Repository(repo).points.list()
    assert manifest["vm"]["name"] == VM and image_sha(repo, manifest["id"]) == expected
