"""What the lab benchmarks share: this checkout's collection and test helpers on sys.path, the
environment `make` gives the tests, and filling a lab VM's disk through the data mover. Import it
before anything of the collection."""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
# What `make` sets for the tests: this environment's ansible-playbook, the collection, its config.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, ".build", "collections"))
os.environ.setdefault("ANSIBLE_CONFIG", os.path.join(ROOT, "tests", "ansible.cfg"))

from pyVmomi import vim  # noqa: E402

from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.mover import DataMover  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer import plan as transfer_plan  # noqa: E402


def fill_disk(vm, image, extents, state_dir):
    """Write the extents of a raw image onto the VM's first disk through the mover (NBDSSL; the
    lab's CBT does not see these writes); the finished transfer's status."""
    env = os.environ
    disk = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0]
    disks = [transfer_plan.WriteDiskPlan("0", disk.backing.fileName, transfer_plan.FilesSource([image]),
                                         [transfer_plan.FileExtent(o, n, 0, o) for o, n in extents])]
    connection = transfer_plan.ConnectParams(server=env["VMWARE_HOST"], port=int(env["VMWARE_PORT"]), user=env["VMWARE_USER"],
                                             thumbprint=env["LAB_THUMBPRINT_SHA1"], vm_moref=vm._moId, transports="nbdssl")
    plan = transfer_plan.TransferPlan("write", transfer_plan.VddkLibrary(env["VDDK_LIBDIR"]), connection, disks)
    return DataMover(state_dir).run(plan, {"password": env["VMWARE_PASSWORD"]})
