"""The binding's allocation query where the library cannot answer: a fault the lab's double can
produce only as NOT_SUPPORTED (its exports cannot lose a symbol), so a stand-in library here."""
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer import vddk


class _Library:
    """A VixDiskLib before 6.7: no QueryAllocatedBlocks."""
    major = 6

    def has(self, name):
        return name != "QueryAllocatedBlocks"

    def call(self, name, *args):
        raise AssertionError("%s must not be called" % name)


def test_a_vddk_without_query_allocated_blocks_means_unknown_not_empty():
    disk = vddk.Disk(_Library(), handle=None, path="[ds] vm/vm.vmdk")
    assert disk.allocated_blocks(chunk_sectors=128) is None  # the caller writes every zero
