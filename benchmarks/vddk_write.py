"""Benchmark: the data mover writing through VDDK (the lab's double) against a plain pwrite loop.

Both write the same non-zero bytes to the same file system in the same run (machines here are
noisy, so only ratios within one run mean anything):
  baseline   one process: read 2 MiB of the image, os.pwrite it into a sparse file, repeat
  mover      DataMover: worker process, reader thread, WriteAsync in flight, one disk (a local
             VMDK opened through libvixDiskLib, transport "file")
  mover x2   the same with two disks of the same size in parallel

Prints a table and JSON: MiB/s, ratio to the baseline, CPU seconds per GiB, peak RSS of the
process that moved the bytes. Goals (issue "VDDK ctypes binding and the data mover"): ratio >= 0.8
for one disk, two disks >= 1.5x one disk's throughput, peak RSS under 200 MiB at any size.

Run: tests/lab/lab build && .venv/bin/python benchmarks/vddk_write.py [--gib 2] [--dir DIR]
"""
import argparse
import json
import os
import resource
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.mover import DataMover  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer import plan as transfer_plan  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.vddk import VixDiskLib  # noqa: E402

MIB = 1 << 20
LIBDIR = os.path.join(ROOT, "tests", "lab", ".build", "vddk")


def make_image(path, size):
    block = os.urandom(16 * MIB)
    with open(path, "wb") as f:
        for _i in range(size // len(block)):
            f.write(block)


def cpu_seconds(usage):
    return usage.ru_utime + usage.ru_stime


def baseline(image, target, size, piece=2 * MIB):
    start, usage = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    source = os.open(image, os.O_RDONLY)
    fd = os.open(target, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    os.ftruncate(fd, size)
    for offset in range(0, size, piece):
        os.pwrite(fd, os.pread(source, piece, offset), offset)
    os.close(fd)
    os.close(source)
    seconds = time.monotonic() - start
    cpu = cpu_seconds(resource.getrusage(resource.RUSAGE_SELF)) - cpu_seconds(usage)
    return seconds, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def mover(work, images, size, name):
    lib = VixDiskLib.load(LIBDIR)
    local = lib.connect_params().connect(transports="file")
    disks = []
    for i, image in enumerate(images):
        path = os.path.join(work, "%s-%d.vmdk" % (name, i))
        local.create(path, size // 512)
        disks.append(transfer_plan.WriteDiskPlan(str(i), path, transfer_plan.FilesSource([image]), [transfer_plan.FileExtent(0, size, 0, 0)]))
    local.disconnect()
    plan = transfer_plan.TransferPlan("write", transfer_plan.VddkLibrary(LIBDIR), transfer_plan.ConnectParams(transports="file"), disks, buffer_bytes=2 * MIB,
                                      in_flight=4, parallel_disks=2, checkpoint_every_bytes=256 * MIB)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    DataMover(os.path.join(work, name + "-state")).run(plan, {})
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, cpu_seconds(after) - cpu_seconds(before), after.ru_maxrss * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=2.0, help="bytes per disk, GiB (default 2)")
    parser.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    size = int(args.gib * 1024) * MIB
    with tempfile.TemporaryDirectory(dir=args.dir) as work:
        images = [os.path.join(work, "image-%d.raw" % i) for i in range(2)]
        for image in images:
            make_image(image, size)
        rows = []
        b = baseline(images[0], os.path.join(work, "baseline.raw"), size)
        rows.append(("baseline pwrite", size, b))
        rows.append(("mover, 1 disk", size, mover(work, images[:1], size, "one")))
        rows.append(("mover, 2 disks", 2 * size, mover(work, images, size, "two")))
    base_rate = size / b[0]
    results = []
    for name, moved, (seconds, cpu, rss) in rows:
        rate = moved / seconds
        results.append({"run": name, "bytes": moved, "seconds": round(seconds, 3), "mib_per_s": round(rate / MIB, 1),
                        "ratio_to_baseline": round(rate / base_rate, 2),
                        "cpu_seconds_per_gib": round(cpu / (moved / (1 << 30)), 2), "peak_rss_mib": round(rss / MIB, 1)})
    print("%-16s %10s %9s %8s %12s %10s" % ("run", "MiB/s", "ratio", "seconds", "CPU s/GiB", "RSS MiB"))
    for r in results:
        print("%-16s %10.1f %9.2f %8.2f %12.2f %10.1f" % (
            r["run"], r["mib_per_s"], r["ratio_to_baseline"], r["seconds"], r["cpu_seconds_per_gib"], r["peak_rss_mib"]))
    print(json.dumps({"gib_per_disk": args.gib, "results": results,
                      "two_disks_vs_one": round(results[2]["mib_per_s"] / results[1]["mib_per_s"], 2)}))


if __name__ == "__main__":
    main()
