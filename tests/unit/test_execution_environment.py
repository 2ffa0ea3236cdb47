"""The execution environment as AWX users build it: ansible-builder writes the build context of
docs/execution-environment.yml (no container engine needed) and finds the collection's own Python
requirements in meta/execution-environment.yml."""
import os
import shutil
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_the_execution_environment_definition_builds(tmp_path):
    """ansible-builder writes the image's build context (no container engine needed): the shipped
    definition, beside a VDDK folder as a user unpacks it, and the collection's own requirements as
    ansible-builder finds them in meta/execution-environment.yml."""
    shutil.copy(os.path.join(ROOT, "docs", "execution-environment.yml"), tmp_path)
    (tmp_path / "vmware-vix-disklib-distrib" / "lib64").mkdir(parents=True)
    (tmp_path / "vmware-vix-disklib-distrib" / "lib64" / "libvixDiskLib.so.8").write_bytes(b"")
    done = subprocess.run(["ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context"],
                          capture_output=True, check=False, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    context = tmp_path / "context"
    [build_file] = [f for f in ("Containerfile", "Dockerfile") if (context / f).exists()]
    steps = (context / build_file).read_text()
    assert "COPY _build/vddk /opt/vmware-vix-disklib-distrib" in steps and "VDDK_LIBDIR" in steps
    assert (context / "_build" / "vddk" / "lib64" / "libvixDiskLib.so.8").exists()
    assert "vadp.vsphere" in (context / "_build" / "requirements.yml").read_text()

    found = subprocess.run(["ansible-builder", "introspect", "--sanitize", os.environ["ANSIBLE_COLLECTIONS_PATH"]],
                           capture_output=True, text=True, check=True).stdout
    for package in ("pyvmomi", "requests", "zstandard", "cryptography"):
        assert "%s>=" % package in found and "from collection vadp.vsphere" in found, found
