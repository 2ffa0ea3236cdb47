"""Benchmark: vmdk_restore on the lab, each figure against a baseline from the same run.

Needs the lab running: tests/lab/lab run -- .venv/bin/python benchmarks/restore.py [--gib 2]

Makes a VM with a thin disk of --gib GiB written full of random data (through the data mover), CBT
on; backs it up in full, then five times after guest writes of 1% (a chain of six points). Then:
  (a) full restore of the last point onto the VM, after the guest changed 2% of the disk, against
      the baseline: the data mover writing the same bytes onto the same disk from a raw image of
      the point (a file source instead of the repository; goal: ratio >= 0.9);
  (b) fresh restore of the last point onto a new VM: bytes written against the image's unique
      (non-zero) bytes, which is write amplification 1.00, printed next to what forward replay of
      full + incrementals would write;
  (c) changed_only after the guest changed 2% of the disk: its transfer time against (a)'s
      (goal <= 5%: the disk is full, so the changed bytes, not the disk's emptiness, set the
      floor); the whole module run (ansible-playbook start included) is shown beside it, and the
      worker's time per VDDK call (open, close, writes);
  (d) the worker's peak RSS in each restore, and in a backup and a fresh restore of a sparse
      --sparse-gib GiB disk (bounded: it does not grow with the disk);
  (e) the cost of verify_after_write: (a) again with every piece read back and compared;
  (f) (a) over hotadd, with the double's trace: sectors written per distinct sector (1.00: each once).
Every restore is checked against the point's SHA-256 from lab inspect. Prints a table and JSON.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

from lab_bench import fill_disk  # sets the paths and environment first
from ansible_collections.vadp.vsphere.plugins.module_utils.extents import align  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository  # noqa: E402
from conftest import LabAccess, create_vm, destroy_vm, read_vddk_trace, run_module, sectors_written, wait  # noqa: E402

MIB = 1 << 20
VM, DR_VM, SPARSE_VM, SPARSE_DR_VM = "bench-restore", "bench-restore-dr", "bench-sparse", "bench-sparse-dr"


def _fill(vm, size, work, extents):
    """Random data in the extents, written through the mover."""
    image = os.path.join(work, "fill.raw")
    with open(image, "wb") as f:
        f.truncate(size)
        for offset, length in extents:
            f.seek(offset)
            for piece in range(0, length, 16 * MIB):
                f.write(os.urandom(min(16 * MIB, length - piece)))
    fill_disk(vm, image, extents, os.path.join(work, "fill"))
    os.remove(image)


def _guest_writes(lab, vm, size, fraction, seed):
    """The guest changes fraction of the disk in 1 MiB writes spread over it."""
    count = max(1, int(size * fraction) // MIB)
    stride = size // count // MIB * MIB
    if vm.runtime.powerState != "poweredOn":
        wait(vm.PowerOnVM_Task())
    for i in range(count):
        lab.guest_write(VM, offset=i * stride + (seed * 3 % 7) * 65536, length=MIB, seed=seed * 1000 + i)
    wait(vm.PowerOffVM_Task())


def _module(name, args, env=None):
    start = time.monotonic()
    result = run_module("vadp.vsphere." + name, args, env=env)
    if result.get("failed"):
        sys.exit("%s failed: %s" % (name, result["msg"]))
    return result, time.monotonic() - start


def _baseline_mover(lab, vm, extents, work):
    """The mover writing the point's non-zero bytes onto the VM's disk from a raw image of the
    point (the disk's own bytes, copied while it holds the point): its transfer seconds."""
    image = os.path.join(work, "point.raw")
    shutil.copyfile(lab.disk_file(VM, "[LocalDS_0] %s/%s-flat.vmdk" % (VM, VM)), image)
    status = fill_disk(vm, image, extents, os.path.join(work, "baseline"))
    os.remove(image)
    return status.seconds


def _sparse_disk_rss(lab, si, gib, work):
    """Peak RSS of the backup and the fresh restore of a gib GiB disk with 64 MiB written."""
    size = int(gib * 1024) * MIB
    vm, dr_vm = create_vm(si, SPARSE_VM, [size // MIB]), create_vm(si, SPARSE_DR_VM, [size // MIB])
    try:
        _fill(vm, size, work, [[o, 16 * MIB] for o in range(0, size, size // 4)])
        repo = os.path.join(work, "sparse-repo")
        backup, _wall = _module("vm_backup", {"name": SPARSE_VM, "repository": repo})
        fresh, _wall = _module("vmdk_restore", {"name": SPARSE_DR_VM, "source_vm": SPARSE_VM, "repository": repo,
                                                "mode": "fresh"})
        assert lab.inspect(SPARSE_DR_VM)["disks"][0]["sha256"] == lab.inspect(SPARSE_VM)["disks"][0]["sha256"], \
            "the sparse disk's fresh restore is not the point"
        shutil.rmtree(repo)
        return backup["peak_rss_bytes"], fresh["transfer"]["peak_rss_bytes"]
    finally:
        destroy_vm(vm)
        destroy_vm(dr_vm)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--sparse-gib", type=float, default=16.0)
    parser.add_argument("--chunk-mib", type=float, help="the repository's chunk size (default: vm_backup's)")
    args = parser.parse_args()
    size = int(args.gib * 1024) * MIB
    lab = LabAccess()
    si = lab.connect()
    vm, dr_vm = create_vm(si, VM, [size // MIB]), create_vm(si, DR_VM, [size // MIB])
    try:
        with tempfile.TemporaryDirectory() as work:
            repo = os.path.join(work, "repo")
            _fill(vm, size, work, [[0, size]])
            _module("vm_cbt", {"name": VM, "state": "enabled"})
            wait(vm.PowerOnVM_Task())
            for round_number in range(6):
                if round_number:
                    _guest_writes(lab, vm, size, 0.01, round_number)
                    wait(vm.PowerOnVM_Task())
                options = {"name": VM, "repository": repo}
                if args.chunk_mib:
                    options["chunk_size"] = int(args.chunk_mib * MIB)
                _module("vm_backup", options)
            expected = lab.inspect(VM)["disks"][0]["sha256"]
            store = Repository(repo)
            manifests = store.points.list()
            indexes = [store.points.read_index(m, m["disks"][0]) for m in manifests]
            unique = [(o, n) for o, n, h in indexes[-1].extents() if h is not None]
            chunk = indexes[-1].chunk_size
            forward = sum(n for _o, n, h in indexes[0].extents() if h is not None)  # the full, then each incremental
            forward += sum(n for m in manifests[1:] for _o, n in align(m["disks"][0]["changed_extents"], chunk, size))
            wait(vm.PowerOffVM_Task())
            baseline = _baseline_mover(lab, vm, unique, work)
            assert lab.inspect(VM)["disks"][0]["sha256"] == expected, "the baseline did not write the point's bytes"

            _guest_writes(lab, vm, size, 0.02, 7)
            changed, changed_wall = _module("vmdk_restore", {"name": VM, "repository": repo, "mode": "changed_only",
                                                             "state_dir": os.path.join(work, "s1")})
            assert lab.inspect(VM)["disks"][0]["sha256"] == expected, "changed_only restore is not the point"
            with open(os.path.join(work, "s1", "status.json")) as f:
                changed_calls = json.load(f)["vddk_calls"]  # where the worker's time went, call by call
            _guest_writes(lab, vm, size, 0.02, 8)
            full, full_wall = _module("vmdk_restore", {"name": VM, "repository": repo, "state_dir": os.path.join(work, "s2")})
            assert lab.inspect(VM)["disks"][0]["sha256"] == expected, "full restore is not the point"
            _guest_writes(lab, vm, size, 0.02, 9)
            verified, verified_wall = _module("vmdk_restore", {"name": VM, "repository": repo, "verify_after_write": True,
                                                               "state_dir": os.path.join(work, "s3")})
            assert lab.inspect(VM)["disks"][0]["sha256"] == expected, "verified full restore is not the point"
            fresh, fresh_wall = _module("vmdk_restore", {"name": DR_VM, "source_vm": VM, "repository": repo, "mode": "fresh"})
            assert lab.inspect(DR_VM)["disks"][0]["sha256"] == expected, "fresh restore is not the point"
            trace = os.path.join(work, "hotadd.trace")  # what VDDK was asked to write, sector by sector
            _guest_writes(lab, vm, size, 0.02, 10)
            hotadd, hotadd_wall = _module("vmdk_restore", {"name": VM, "repository": repo, "transport": "hotadd",
                                                           "state_dir": os.path.join(work, "s4")},
                                          env={"VDDK_DOUBLE_TRACE": trace})
            assert lab.inspect(VM)["disks"][0]["sha256"] == expected, "hotadd full restore is not the point"
            hotadd_sectors, hotadd_distinct = sectors_written(next(iter(read_vddk_trace(trace).values())))
            sparse_backup_rss, sparse_restore_rss = _sparse_disk_rss(lab, si, args.sparse_gib, work)
    finally:
        destroy_vm(vm)
        destroy_vm(dr_vm)

    unique_bytes = sum(n for _o, n in unique)
    base_rate = unique_bytes / baseline
    runs = [("baseline: mover from raw image", unique_bytes, baseline, baseline, None)]
    for name, result, wall in (("full restore (a)", full, full_wall), ("(a) + verify_after_write", verified, verified_wall),
                               ("changed_only (c)", changed, changed_wall), ("(a) over hotadd (f)", hotadd, hotadd_wall),
                               ("fresh restore (b)", fresh, fresh_wall)):
        runs.append((name, result["disks"][0]["bytes_written"], result["transfer"]["seconds"], wall,
                     result["transfer"]["peak_rss_bytes"]))
    print("%-26s %12s %9s %7s %9s %9s %10s" % ("run", "bytes", "MiB/s", "ratio", "transfer", "whole", "peak RSS"))
    for name, moved, seconds, wall, rss in runs:
        rate = moved / seconds
        print("%-26s %12d %9.1f %7.2f %8.2fs %8.2fs %10s" % (name, moved, rate / MIB, rate / base_rate, seconds, wall,
                                                             "%.0f MiB" % (rss / MIB) if rss else "-"))
    summary = {
        "gib": args.gib, "points": len(manifests), "unique_bytes": unique_bytes,
        "full_vs_baseline_rate": round(full["disks"][0]["bytes_written"] / full["transfer"]["seconds"] / base_rate, 2),
        "write_amplification": round(fresh["disks"][0]["bytes_written"] / unique_bytes, 3),
        "forward_replay_bytes": forward, "forward_replay_amplification": round(forward / unique_bytes, 3),
        "changed_only_vs_full_transfer": round(changed["transfer"]["seconds"] / full["transfer"]["seconds"], 3),
        "verify_after_write_vs_full_transfer": round(verified["transfer"]["seconds"] / full["transfer"]["seconds"], 3),
        "hotadd_sectors_written_per_distinct_sector": round(hotadd_sectors / hotadd_distinct, 3),
        "changed_only_vs_full_whole_run": round(changed_wall / full_wall, 3),
        "peak_rss_mib": max(r[4] for r in runs[1:]) / MIB,
        "sparse_gib": args.sparse_gib, "sparse_backup_peak_rss_mib": round(sparse_backup_rss / MIB, 1),
        "sparse_fresh_restore_peak_rss_mib": round(sparse_restore_rss / MIB, 1),
        "changed_only_vddk_calls": changed_calls,
        "changed_only_fixed_vddk_seconds": round(sum(c["seconds"] for name, c in changed_calls.items()
                                                     if name not in ("WriteAsync", "Flush")), 3),
        "runs": [{"run": n, "bytes": m, "transfer_seconds": round(s, 3), "whole_seconds": round(w, 3)}
                 for n, m, s, w, _r in runs]}
    print("write amplification %.3f (forward replay would be %.3f); changed_only took %.1f%% of the full restore's "
          "transfer, %.1f%% of its whole run" % (summary["write_amplification"], summary["forward_replay_amplification"],
                                                 100 * summary["changed_only_vs_full_transfer"],
                                                 100 * summary["changed_only_vs_full_whole_run"]))
    print("changed_only, the worker's VDDK calls (all but WriteAsync and Flush are fixed costs): %s" % ", ".join(
        "%s %d x %.3f s" % (name, c["count"], c["seconds"]) for name, c in sorted(changed_calls.items())))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
