"""The jobs without Ansible: a backup and a restore through BackupJob and RestoreJob alone, as a
benchmark or another tool calls them. They run in a process of their own, which shows afterwards
that no Ansible module was imported."""
import json
import os
import subprocess
import sys

from conftest import find_vm_by_name, settle, wait

VM = "DC0_H0_VM1"
MIB = 1 << 20
COLLECTIONS = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "collections")

SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.backup import BackupJob, BackupOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.restore import RestoreJob, RestoreOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.connect import VddkSettings
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.client import ConnectionSettings, VsphereClient
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.lookup import find_vm

args = json.loads(sys.argv[2])
settings = ConnectionSettings(args["host"], args["user"], args["password"], port=args["port"], ca_bundle=args["ca"])
vddk = VddkSettings(args["libdir"], transport="nbdssl")
with VsphereClient(settings) as client:
    vm = find_vm(client.content, name=args["vm"])
    if args["step"] == "backup":
        result = BackupJob(client, vm, BackupOptions(args["repository"], vddk, type="full")).run()
    else:
        result = RestoreJob(client, vm, RestoreOptions(vddk, repository=args["repository"], state_dir=args["state"])).run()
loaded = sorted(m for m in sys.modules if m == "ansible" or m.startswith("ansible."))
print(json.dumps({"result": result, "ansible_modules": loaded}, default=str))
"""


def _job(lab, tmp_path, step):
    args = {"host": lab.host, "port": lab.port, "user": lab.user, "password": lab.password, "ca": lab.ca_file,
            "libdir": os.environ["VDDK_LIBDIR"], "vm": VM, "repository": str(tmp_path / "repo"),
            "state": str(tmp_path / "state"), "step": step}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, os.path.abspath(COLLECTIONS), json.dumps(args)],
                         capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout.splitlines()[-1])
    assert answer["ansible_modules"] == []
    return answer["result"]


def test_a_backup_and_a_restore_with_the_jobs_alone(si, lab, tmp_path):
    [vm] = find_vm_by_name(si, VM)
    settle(vm)
    lab.guest_write(VM, offset=3 * MIB, length=2 * MIB, seed=71)
    backed_up = lab.inspect(VM)["disks"][0]["sha256"]
    point = _job(lab, tmp_path, "backup")
    assert point["type"] == "full" and point["point_id"] and vm.snapshot is None
    lab.guest_write(VM, offset=3 * MIB, length=MIB, seed=72)  # the disk moves on after the point
    wait(vm.PowerOffVM_Task())
    try:
        assert lab.inspect(VM)["disks"][0]["sha256"] != backed_up
        restored = _job(lab, tmp_path, "restore")
        assert restored["changed"] is True and restored["point"]["id"] == point["point_id"]
        assert lab.inspect(VM)["disks"][0]["sha256"] == backed_up
    finally:
        wait(vm.PowerOnVM_Task())
