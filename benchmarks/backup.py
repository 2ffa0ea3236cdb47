"""Benchmark: vm_backup's throughput against a plain sequential read of the same disk.

Needs the lab running (tests/lab/lab run -- .venv/bin/python benchmarks/backup.py). Makes a VM
with a thin disk of --gib GiB full of random data (written through the data mover), then in the
same run: reads the disk's extent file sequentially in 4 MiB blocks (the baseline: the bytes a
backup must read, from the same file system), and backs the VM up in full with vm_backup through
ansible-playbook into an empty repository (read through VDDK, SHA-256, zstd, store). Prints MiB/s
of both, the ratio, and the repository's size, as a table and as JSON. Random data does not
compress: this is the worst case for the store side.
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import time

from lab_bench import fill_disk  # sets the paths and environment first
from conftest import LabAccess, create_vm, destroy_vm, run_module  # noqa: E402

MIB = 1 << 20


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0)
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
            flat = lab.disk_file("bench-backup", "[LocalDS_0] bench-backup/bench-backup-flat.vmdk")
            start = time.monotonic()
            with open(flat, "rb") as f:
                while f.read(4 * MIB):
                    pass
            baseline = time.monotonic() - start
            run_module("vadp.vsphere.vm_cbt", {"name": "bench-backup", "state": "enabled"})
            start = time.monotonic()
            result = run_module("vadp.vsphere.vm_backup", {"name": "bench-backup", "repository": os.path.join(work, "repo")})
            wall = time.monotonic() - start
            if result.get("failed"):
                sys.exit("backup failed: %s" % result["msg"])
            stored = sum(os.path.getsize(p) for p in glob.glob(os.path.join(work, "repo", "chunks", "*", "*", "*")))
    finally:
        destroy_vm(vm)
    transfer = result["seconds"]
    rows = [("sequential read", size / baseline, baseline),
            ("vm_backup transfer", result["bytes_read"] / transfer, transfer),
            ("vm_backup whole run", result["bytes_read"] / wall, wall)]
    print("%-22s %10s %8s %9s" % ("run", "MiB/s", "ratio", "seconds"))
    for name, rate, seconds in rows:
        print("%-22s %10.1f %8.2f %9.2f" % (name, rate / MIB, rate / rows[0][1], seconds))
    print(json.dumps({"gib": args.gib, "bytes_read": result["bytes_read"], "repository_bytes": stored,
                      "results": [{"run": n, "mib_per_s": round(r / MIB, 1), "ratio": round(r / rows[0][1], 2),
                                   "seconds": round(s, 3)} for n, r, s in rows]}))


if __name__ == "__main__":
    main()
