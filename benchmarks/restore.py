"""Benchmark: vmdk_restore on the lab, each figure against a baseline from the same run.

Needs the lab running: tests/lab/lab run -- .venv/bin/python benchmarks/restore.py [--gib 4]

Makes a VM with a thin disk of --gib GiB, a quarter of it random data (written through the data
mover), CBT on; backs it up in full, then five times after guest writes (a chain of six points).
Then:
  (a) full restore of the last point onto the VM, after the guest changed 2% of the disk, against
      the baseline: the point's non-zero chunks copied from the disk's own extent file into a new
      file on the same file system with plain sequential pread/pwrite (goal: ratio >= 0.7);
  (b) fresh restore of the last point onto a new VM: bytes written against the image's unique
      (non-zero) bytes, which is write amplification 1.00, printed next to what forward replay of
      full + incrementals would write;
  (c) changed_only after the guest changed 2% of the disk: its time against (a)'s (goal <= 5%);
      the transfer and the whole module run (ansible-playbook start included) are both shown;
  (d) the worker's peak RSS in each restore (bounded: it does not grow with the disk);
  (e) the cost of verify_after_write: (a) again with every piece read back and compared;
  (f) (a) over hotadd, with the double's trace: sectors written per distinct sector (1.00: each once).
Every restore is checked against the point's SHA-256 from lab inspect. Prints a table and JSON.
"""
import argparse
import json
import os
import sys
import tempfile
import time

from lab_bench import fill_disk  # sets the paths and environment first
from ansible_collections.vadp.vsphere.plugins.module_utils.transfer.extents import align  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils.repository.store import Repository  # noqa: E402
from conftest import LabAccess, create_vm, destroy_vm, read_vddk_trace, run_module, sectors_written, wait  # noqa: E402

MIB = 1 << 20
VM, DR_VM = "bench-restore", "bench-restore-dr"


def _fill_a_quarter(vm, size, work):
    """Random data in every fourth 16 MiB block (the full backup reads the allocated areas)."""
    image, extents = os.path.join(work, "fill.raw"), [[o, 16 * MIB] for o in range(0, size, 64 * MIB)]
    with open(image, "wb") as f:
        f.truncate(size)
        for offset, length in extents:
            f.seek(offset)
            f.write(os.urandom(length))
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


def _baseline_copy(flat, extents, target):
    """Plain sequential copy of the point's non-zero chunks, in 2 MiB pieces."""
    start = time.monotonic()
    source, out = os.open(flat, os.O_RDONLY), os.open(target, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        for offset, length in extents:
            for piece in range(offset, offset + length, 2 * MIB):
                n = min(2 * MIB, offset + length - piece)
                os.pwrite(out, os.pread(source, n, piece), piece)
    finally:
        os.close(source)
        os.close(out)
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=4.0)
    args = parser.parse_args()
    size = int(args.gib * 1024) * MIB
    lab = LabAccess()
    si = lab.connect()
    vm, dr_vm = create_vm(si, VM, [size // MIB]), create_vm(si, DR_VM, [size // MIB])
    try:
        with tempfile.TemporaryDirectory() as work:
            repo = os.path.join(work, "repo")
            _fill_a_quarter(vm, size, work)
            _module("vm_cbt", {"name": VM, "state": "enabled"})
            wait(vm.PowerOnVM_Task())
            for round_number in range(6):
                if round_number:
                    _guest_writes(lab, vm, size, 0.01, round_number)
                    wait(vm.PowerOnVM_Task())
                _module("vm_backup", {"name": VM, "repository": repo})
            expected = lab.inspect(VM)["disks"][0]["sha256"]
            store = Repository(repo)
            manifests = store.manifests()
            indexes = [store.read_index(m, m["disks"][0]) for m in manifests]
            unique = [(o, n) for o, n, h in indexes[-1].extents() if h is not None]
            chunk = indexes[-1].chunk_size
            forward = sum(n for _o, n, h in indexes[0].extents() if h is not None)  # the full, then each incremental
            forward += sum(n for m in manifests[1:] for _o, n in align(m["disks"][0]["changed_extents"], chunk, size))
            flat = lab.disk_file(VM, "[LocalDS_0] %s/%s-flat.vmdk" % (VM, VM))
            wait(vm.PowerOffVM_Task())
            baseline = _baseline_copy(flat, unique, os.path.join(work, "baseline.raw"))

            _guest_writes(lab, vm, size, 0.02, 7)
            changed, changed_wall = _module("vmdk_restore", {"name": VM, "repository": repo, "mode": "changed_only",
                                                             "state_dir": os.path.join(work, "s1")})
            assert lab.inspect(VM)["disks"][0]["sha256"] == expected, "changed_only restore is not the point"
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
    finally:
        destroy_vm(vm)
        destroy_vm(dr_vm)

    unique_bytes = sum(n for _o, n in unique)
    base_rate = unique_bytes / baseline
    runs = [("baseline sequential copy", unique_bytes, baseline, baseline, None)]
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
        "runs": [{"run": n, "bytes": m, "transfer_seconds": round(s, 3), "whole_seconds": round(w, 3)}
                 for n, m, s, w, _r in runs]}
    print("write amplification %.3f (forward replay would be %.3f); changed_only took %.1f%% of the full restore's "
          "transfer, %.1f%% of its whole run" % (summary["write_amplification"], summary["forward_replay_amplification"],
                                                 100 * summary["changed_only_vs_full_transfer"],
                                                 100 * summary["changed_only_vs_full_whole_run"]))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
