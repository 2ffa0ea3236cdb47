"""Benchmark: what ransomware detection costs, and how fast a point's guest files are scanned.

Needs the lab running (tests/lab/lab run -- .venv/bin/python benchmarks/ransomware.py). Makes a VM
whose disk holds an ext4 file system of --mib MiB (documents that compress, and random files),
backs it up with CBT, then builds a week of history (seven days of log writes, each backed up).
In the same run:
  flags       incremental backups after the same guest write (--change-mib MiB of log lines),
              with the anomaly judgement and without it (vm_backup anomaly.enabled false),
              alternating --rounds times, each first in every other round: median time
              without / median time with (goal >= 0.95);
  scan        restore_point_scan of the point with a rule that matches one file: MiB/s of guest
              files read and matched, with and without the time the export and libguestfs's
              appliance take to start (about 20 s without KVM).
Prints the figures as a table and as JSON.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

# lab_bench sets the paths and environment first
import lab_bench  # noqa: F401  pylint: disable=unused-import
from conftest import LabAccess, create_vm, destroy_vm, run_module, wait  # noqa: E402

MIB = 1 << 20
RULE = 'rule benchmark_marker { strings: $m = "vadp-benchmark-marker" condition: $m }\n'


def _image(work, mib):
    """An MBR disk of mib MiB: one ext4 partition at 1 MiB, half text documents, half random files."""
    tree, image = os.path.join(work, "tree"), os.path.join(work, "disk.img")
    os.makedirs(os.path.join(tree, "docs"))
    text = b"".join(b"line %08d of a document that compresses as text does\n" % n for n in range(20000))
    room = (mib - 24) * MIB  # the file system's own metadata and some free space
    for n in range(room // 2 // (4 * MIB)):
        with open(os.path.join(tree, "docs", "report%03d.txt" % n), "wb") as f:
            f.write((text * (4 * MIB // len(text) + 1))[:4 * MIB])
        with open(os.path.join(tree, "docs", "photo%03d.jpg" % n), "wb") as f:
            f.write(os.urandom(4 * MIB))
    with open(os.path.join(tree, "docs", "marked.txt"), "w") as f:
        f.write("vadp-benchmark-marker\n")
    with open(image, "wb") as f:
        f.truncate(mib * MIB)
    subprocess.run(["sfdisk", "-q", image], input="start=2048, type=83\n", text=True, check=True)
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", tree, "-E", "offset=%d" % MIB, image, "%dM" % (mib - 2)], check=True)
    return image


def _backup(vm, repo, enabled):
    started = time.monotonic()
    result = run_module("vadp.vsphere.vm_backup", dict(name=vm, repository=repo, anomaly={"enabled": enabled}))
    assert not result.get("failed"), result
    return time.monotonic() - started, result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256, help="the guest disk and its file system")
    parser.add_argument("--change-mib", type=int, default=16, help="what the guest writes before each measured backup")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lab, name = LabAccess(), "bench-ransomware"
    si = lab.connect()
    vm = create_vm(si, name, [args.mib + 64])
    try:
        with tempfile.TemporaryDirectory() as work:
            assert not run_module("vadp.vsphere.vm_cbt", dict(name=name, state="enabled")).get("failed")
            wait(vm.PowerOnVM_Task())
            lab.guest_write(name, offset=0, source=_image(work, args.mib))
            repo = os.path.join(work, "repo")
            _backup(name, repo, True)
            log_area = (args.mib + 8) * MIB  # past the file system
            for day in range(7):
                lab.guest_write(name, offset=log_area, length=2 * MIB, seed=day, pattern="text")
                _backup(name, repo, True)
            times = {True: [], False: []}
            for n in range(args.rounds):
                for enabled in ((True, False) if n % 2 else (False, True)):  # neither always first after the write
                    lab.guest_write(name, offset=log_area, length=args.change_mib * MIB, seed=100 + n, pattern="text")
                    times[enabled].append(_backup(name, repo, enabled)[0])
            rules = os.path.join(work, "rules.yar")
            with open(rules, "w") as f:
                f.write(RULE)
            scan = run_module("vadp.vsphere.restore_point_scan", dict(repository=repo, vm=name, rules=rules,
                                                                      exports_dir=os.path.join(work, "exports")))
            assert not scan.get("failed") and [m["path"] for m in scan["matches"]] == ["/docs/marked.txt"], scan
    finally:
        destroy_vm(vm)
    with_flags, without = statistics.median(times[True]), statistics.median(times[False])
    figures = {
        "rounds": args.rounds, "change_mib": args.change_mib, "backup_seconds_with_flags": round(with_flags, 3),
        "backup_seconds_without_flags": round(without, 3), "without_vs_with_flags": round(without / with_flags, 3),
        "scan_mib": round(scan["bytes_scanned"] / MIB, 1), "scan_files": scan["files_scanned"],
        "scan_seconds": scan["seconds"], "scan_rate_mib_s": round(scan["bytes_scanned"] / MIB / scan["seconds"], 1),
        "scan_rate_without_start_mib_s": round(scan["bytes_scanned"] / MIB / scan["scan_seconds"], 1),
    }
    print("incremental backups (%d MiB written each), %d rounds: median %.3f s with flags, %.3f s without: %.3f" % (
        args.change_mib, args.rounds, with_flags, without, figures["without_vs_with_flags"]))
    print("scan of %.0f MiB in %d files: %.1f s (%.1f MiB/s), %.1f MiB/s without starting the appliance" % (
        figures["scan_mib"], figures["scan_files"], scan["seconds"], figures["scan_rate_mib_s"],
        figures["scan_rate_without_start_mib_s"]))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
