"""What a module process imports when it starts. Every task starts a new Python process, and the
follow loop and the per-VM tasks of a job start many: a module that moves no disk data must not
pay for importing the data mover and its libraries (docs/performance.md, "Many VMs at once")."""
import os
import subprocess
import sys

import pytest

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".build", "collections"))
MODULE_UTILS = "ansible_collections.vadp.vsphere.plugins.module_utils."
DATA_PATH = (MODULE_UTILS + "_transfer.mover", MODULE_UTILS + "_repository.store", "zstandard", "cryptography")


def _imported_by(module):
    """The modules loaded by importing the collection's module `module` in a fresh interpreter."""
    code = "import sys; import ansible_collections.vadp.vsphere.plugins.modules.%s; print('\\n'.join(sys.modules))" % module
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=dict(os.environ, PYTHONPATH=COLLECTIONS))
    return set(done.stdout.split())


@pytest.mark.parametrize("module", ["vm_info", "vm_cbt", "vm_power", "transfer_status"])
def test_a_module_that_moves_no_data_does_not_import_the_data_path(module):
    assert not [name for name in DATA_PATH if name in _imported_by(module)]


def test_transfer_status_does_not_import_the_vsphere_client():
    """It is started again for every answer when it cannot follow on the controller (become, a remote connection)."""
    imported = _imported_by("transfer_status")
    assert "pyVmomi" not in imported and MODULE_UTILS + "_vsphere.client" not in imported


def test_a_module_that_moves_data_does_import_it():
    """The check sees what a module imports: vm_backup needs the mover."""
    assert all(name in _imported_by("vm_backup") for name in DATA_PATH[:3])


def test_preflight_checks_the_repository_without_importing_the_data_mover():
    assert MODULE_UTILS + "_transfer.mover" not in _imported_by("preflight")
