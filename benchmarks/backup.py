"""Benchmark: vm_backup's throughput against reading the same disk through the same VDDK.

Needs the lab running (tests/lab/lab run -- .venv/bin/python benchmarks/backup.py). Makes a VM
with a thin disk of --gib GiB full of random data (written through the data mover), then in the
same run:
  raw read          the disk read through the VDDK double over NBDSSL in this process, chunk by
                    chunk into page-aligned buffers with ReadAsync, exactly as the backup reads it,
                    and nothing done with the bytes (the goal's baseline: the pipeline's ceiling);
  raw read + write  the same, each chunk then written to a new file in the repository's file
                    system and all of them made durable by one syncfs at the end (the
                    storage's floor for a backup that stores every byte: what is left when
                    hashing and compression cost nothing);
  write only        the same number of chunk files written (bytes already in memory, nothing read)
                    and one syncfs: what the repository's file system takes to store every byte,
                    the floor of a backup whose reads and stores overlap;
  vm_backup         a full backup through ansible-playbook into an empty repository (read through
                    VDDK, SHA-256, zstd, store);
  vm_backup, in memory  the same into a repository in /dev/shm (a tmpfs): the pipeline without the
                    storage, comparable to the raw read, which comes from the page cache. This
                    machine's disk takes 1.3 to 5.5 s to write and sync a GiB, from one run to the
                    next: the backups alternate with it, --rounds times.
Prints MiB/s, the ratios to the raw read, and the repository's size, as a table and as JSON.
Random data does not compress: this is the worst case for the store side.

With --encrypted, the same backups also run into encrypted repositories, all alternating
--rounds times, and the table adds the encrypted run and its ratio to the unencrypted one: the
cost of encryption at rest on a whole backup (the store side alone: benchmarks/encryption.py).
"""
import argparse
import ctypes
import glob
import json
import mmap
import os
import shutil
import sys
import tempfile
import time

from lab_bench import fill_disk  # sets the paths and environment first
from conftest import LabAccess, create_vm, destroy_vm, run_module  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import DEFAULT_CHUNK_SIZE  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.vddk import VixDiskLib  # noqa: E402

MIB = 1 << 20
PIECE = 2 * MIB  # the plan's default buffer
KINDS = ("plain", "encrypted", "in memory", "encrypted, in memory")
MEMORY = "/dev/shm"  # a tmpfs: the in-memory repository


def _syncfs(folder):
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs", folder)
    finally:
        os.close(fd)


def _raw_read(vm, path, size, chunk, store_in=None):
    """The disk read as DiskReader reads it (a chunk's pieces in flight, then wait), and with
    store_in each chunk written to a new file there, made durable by one syncfs at the end, as a
    backup makes its chunks durable before the index; seconds taken."""
    env = os.environ
    params = VixDiskLib.load(env["VDDK_LIBDIR"]).connect_params(
        server=env["VMWARE_HOST"], port=int(env["VMWARE_PORT"]), user=env["VMWARE_USER"], password=env["VMWARE_PASSWORD"],
        thumbprint=env["LAB_THUMBPRINT_SHA1"], vm_moref=vm._moId)
    connection = params.connect(read_only=True, transports="nbdssl")
    disk = connection.open(path, read_only=True)
    start = time.monotonic()
    for offset in range(0, size, chunk):
        data = mmap.mmap(-1, chunk)
        for piece in range(0, chunk, min(PIECE, chunk)):
            view = (ctypes.c_char * min(PIECE, chunk)).from_buffer(data, piece)
            disk.read_async((offset + piece) // 512, view, min(PIECE, chunk) // 512)
            del view
        disk.wait()
        if store_in:
            with open(os.path.join(store_in, "%d" % offset), "wb") as f:
                f.write(bytes(data))
        data.close()
    if store_in:
        _syncfs(store_in)
    seconds = time.monotonic() - start
    disk.close()
    connection.disconnect()
    params.free()
    return seconds


def _write_only(size, chunk, folder):
    """Seconds to write size bytes as new files of a chunk each in folder, then one syncfs."""
    data = os.urandom(chunk)
    start = time.monotonic()
    for offset in range(0, size, chunk):
        with open(os.path.join(folder, "%d" % offset), "wb") as f:
            f.write(data)
    _syncfs(folder)
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--encrypted", action="store_true")
    parser.add_argument("--chunk-mib", type=float, help="the repository's chunk size (default: vm_backup's)")
    parser.add_argument("--rounds", type=int, default=2, help="backups of each kind (plain and in memory, and encrypted with --encrypted)")
    args = parser.parse_args()
    size = int(args.gib * 1024) * MIB
    lab = LabAccess()
    vm = create_vm(lab.connect(), "bench-backup", [size // MIB])
    try:
        with tempfile.TemporaryDirectory() as work:
            image = os.path.join(work, "image.raw")
            with open(image, "wb") as f:
                for _i in range(size // (16 * MIB)):
                    f.write(os.urandom(16 * MIB))
            fill_disk(vm, image, [[0, size]], os.path.join(work, "fill"))
            os.remove(image)
            path = "[LocalDS_0] bench-backup/bench-backup.vmdk"
            chunk = int(args.chunk_mib * MIB) if args.chunk_mib else DEFAULT_CHUNK_SIZE
            baseline = _raw_read(vm, path, size, chunk)
            os.mkdir(os.path.join(work, "raw"))
            raw_write = _raw_read(vm, path, size, chunk, store_in=os.path.join(work, "raw"))
            shutil.rmtree(os.path.join(work, "raw"))
            os.mkdir(os.path.join(work, "written"))
            write_only = _write_only(size, chunk, os.path.join(work, "written"))
            shutil.rmtree(os.path.join(work, "written"))
            run_module("vadp.vsphere.vm_cbt", {"name": "bench-backup", "state": "enabled"})
            key = os.path.join(work, "key")
            with open(key, "w") as f:
                f.write(os.urandom(32).hex())
            each = KINDS if args.encrypted else ("plain", "in memory")
            kinds = [k for r in range(args.rounds) for k in (each if r % 2 == 0 else each[::-1])]
            runs = {kind: [] for kind in KINDS}
            for i, kind in enumerate(kinds):
                # empty each time: every run is a full backup
                repo = os.path.join(MEMORY if kind.endswith("in memory") else work, "bench-backup-repo-%d" % i)
                options = {"name": "bench-backup", "repository": repo}
                if args.chunk_mib:
                    options["chunk_size"] = int(args.chunk_mib * MIB)
                if kind.startswith("encrypted"):
                    options["encryption_key_file"] = key
                start = time.monotonic()
                result = run_module("vadp.vsphere.vm_backup", options)
                wall = time.monotonic() - start
                if result.get("failed"):
                    sys.exit("backup failed: %s" % result["msg"])
                runs[kind].append((result, wall))
                if kind == "plain":
                    stored = sum(os.path.getsize(p) for p in glob.glob(os.path.join(repo, "chunks", "*", "*", "*")))
                shutil.rmtree(repo)
    finally:
        destroy_vm(vm)
    result = runs["plain"][0][0]
    rows = {"raw read through VDDK": baseline, "raw read + write": raw_write, "write only": write_only}
    for kind in (k for k in KINDS if runs[k]):
        label = "vm_backup" + ("" if kind == "plain" else ", " + kind)
        rows[label + " transfer"] = sum(r["seconds"] for r, _wall in runs[kind]) / len(runs[kind])
        rows[label + " whole run"] = sum(w for _r, w in runs[kind]) / len(runs[kind])
    print("%-40s %10s %8s %9s" % ("run", "MiB/s", "ratio", "seconds"))
    for name, seconds in rows.items():
        print("%-40s %10.1f %8.2f %9.2f" % (name, size / seconds / MIB, baseline / seconds, seconds))
    transfer = rows["vm_backup transfer"]
    figures = {"gib": args.gib, "bytes_read": result["bytes_read"], "repository_bytes": stored,
               "transfer_vs_raw_read": round(baseline / transfer, 2),
               "transfer_vs_raw_read_and_write": round(raw_write / transfer, 2),
               "transfer_vs_write_only": round(write_only / transfer, 2),
               "in_memory_transfer_vs_raw_read": round(baseline / rows["vm_backup, in memory transfer"], 2),
               "results": [{"run": name, "mib_per_s": round(size / seconds / MIB, 1), "ratio": round(baseline / seconds, 2),
                            "seconds": round(seconds, 3)} for name, seconds in rows.items()]}
    if args.encrypted:
        figures["encrypted_vs_plain_transfer"] = round(transfer / rows["vm_backup, encrypted transfer"], 2)
        figures["in_memory_encrypted_vs_plain_transfer"] = round(
            rows["vm_backup, in memory transfer"] / rows["vm_backup, encrypted, in memory transfer"], 2)
        print("encrypted/plain transfer %.2f, in memory %.2f" % (
            figures["encrypted_vs_plain_transfer"], figures["in_memory_encrypted_vs_plain_transfer"]))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
