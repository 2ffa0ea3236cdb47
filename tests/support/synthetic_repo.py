"""Restore points with chosen times and contents, written through the same Repository calls a
backup makes (chunks, then indexes, then the manifest), for tests and benchmarks that need many
points without the lab. A point's disk is given as a list of chunk contents (bytes, or None for
a zero chunk)."""
import datetime
import hashlib

from ansible_collections.vadp.vsphere.plugins.module_utils._repository.immutability import stamp
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.index import DiskIndex
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.points import new_point_id
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

CHUNK = 65536


def repository(path, chunk_size=CHUNK, key_file=None):
    return Repository.create(str(path), chunk_size=chunk_size, key_file=key_file)


def add_point(repo, vm, when, chunks, parent=None, disk_key=2000, commit_check=lambda: None, lock=None):
    """A point of vm (a name; its instance uuid is derived from it) at `when` (aware datetime);
    lock (immutability.RetentionLock): an immutable point, as vm_backup's immutable_days makes one."""
    vm_key = vm_key_of(vm)
    writer = repo.points.begin(vm_key, new_point_id(when))
    entries = [None if data is None else repo.chunks.put(data, lock)[0] for data in chunks]
    index = DiskIndex(repo.chunk_size, repo.chunk_size * len(chunks), entries)
    repo.storage.sync()  # as a backup's disk reader does before the index
    name = writer.write_file("disk-%d.index" % disk_key, index.to_bytes(), lock)
    commit_check()
    immutable = {"immutable": {"until": stamp(lock.until), "locked_until": stamp(lock.target)}} if lock else {}
    return writer.commit(dict(immutable, **{
        "type": "incremental" if parent else "full", "parent": parent["id"] if parent else None,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "vm": {"name": vm, "instance_uuid": vm_key, "uuid": vm_key},
        "config": None, "nvram": None,
        "disks": [{"key": disk_key, "label": "Hard disk 1", "capacity_bytes": index.capacity, "index": name}]}), lock)


def vm_key_of(vm):
    return "uuid-" + hashlib.sha256(vm.encode()).hexdigest()[:12]


def chunk(seed, size=CHUNK):
    """size bytes that no other seed gives."""
    out, counter = bytearray(), 0
    while len(out) < size:
        out += hashlib.sha256(b"%d:%d" % (seed, counter)).digest()
        counter += 1
    return bytes(out[:size])


def image(repo, manifest):
    """The point's first disk, assembled from its index and chunks (what a restore writes)."""
    index = repo.points.read_index(manifest, manifest["disks"][0])
    return b"".join(repo.chunks.get(e) if e else bytes(n) for _o, n, e in index.extents())


def utc(*parts):
    return datetime.datetime(*parts, tzinfo=datetime.timezone.utc)
