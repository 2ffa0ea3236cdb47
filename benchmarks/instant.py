"""Benchmark: instant recovery against a full restore, on the lab.

Needs the lab running: tests/lab/lab run -- .venv/bin/python benchmarks/instant.py [--gib 4]

Makes a bootable VM with a thin disk of --gib GiB, written full of random bytes through the data
mover, and backs it up. Then, --rounds times, alternating the order so both see the same load:
  full restore   recovery_drill of the point (a new VM, every byte restored, booted): its time from
                 the start of the recovery to VMware Tools running;
  instant        instant_recovery state running, from the module's start to its return (the served
                 datastore mounted, the VM registered, powered on, heartbeat green); then the guest's
                 sequential read of its whole disk over NFS (the lab's /inspect reads it as the guest
                 would, through the served chain) against nbdcopy of restore_point_export's export of
                 the same point; then a discard.
Prints the figures and the ratios, as a table and as JSON.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from lab_bench import fill_disk  # sets the paths and environment first
from conftest import LabAccess, create_vm, destroy_vm, run_module  # noqa: E402

from ansible_collections.vadp.vsphere.plugins.module_utils._export.nbd_export import ExportOptions, NbdExports  # noqa: E402

GIB, MIB = 1 << 30, 1 << 20
VM, RECOVERED = "bench-instant", "bench-instant-ir"


def _ok(result, what):
    if result.get("failed"):
        sys.exit("%s failed: %s" % (what, result["msg"]))
    return result


def full_restore(repo):
    drill = _ok(run_module("vadp.vsphere.recovery_drill", {"repository": repo, "vms": [VM], "network": "Isolated Network",
                                                           "host": "DC0_H0"}), "the drill")
    return drill["drills"][0]["recovery_seconds"]


def instant(lab, repo, work):
    """(seconds to heartbeat, seconds of the guest's whole-disk read over NFS)."""
    folder = os.path.join(work, "datastores")
    start = time.monotonic()
    _ok(run_module("vadp.vsphere.instant_recovery", {"name": RECOVERED, "repository": repo, "source_vm": VM,
                                                     "host": "DC0_H0", "datastores_dir": folder}), "instant recovery")
    to_heartbeat = time.monotonic() - start
    try:
        start = time.monotonic()
        lab.inspect(RECOVERED)
        read = time.monotonic() - start
    finally:
        _ok(run_module("vadp.vsphere.instant_recovery", {"name": RECOVERED, "state": "absent", "datastores_dir": folder}),
            "the discard")
    return to_heartbeat, read


def nbdcopy(repo, work, name):
    exports = NbdExports(os.path.join(work, "exports"))
    options = ExportOptions(repository=repo, vm=VM, name=name, socket=os.path.join(work, name + ".sock"))
    record = exports.start(options, exports.plan(options))
    try:
        start = time.monotonic()
        subprocess.run(["nbdcopy", record["uri"], "null:"], check=True)
        return time.monotonic() - start
    finally:
        exports.stop(record)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    lab, size = LabAccess(), args.gib * GIB
    si = lab.connect()
    vm = create_vm(si, VM, [args.gib * 1024])
    seconds = {"full": 0.0, "instant": 0.0, "nfs read": 0.0, "nbdcopy": 0.0}
    try:
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/var/tmp")) as work:
            image = os.path.join(work, "image.raw")
            with open(image, "wb") as f:
                f.write(bytes(512 * 3))  # keeps the boot sector the lab installed
                for _i in range(0, size - 1536, 16 * MIB):
                    f.write(os.urandom(16 * MIB))
                f.truncate(size)
            fill_disk(vm, image, [[1536, size - 1536]], os.path.join(work, "fill"))
            os.remove(image)
            repo = os.path.join(work, "repo")
            _ok(run_module("vadp.vsphere.vm_backup", {"name": VM, "repository": repo}), "the backup")
            for r in range(args.rounds):
                for kind in ("full", "instant") if r % 2 == 0 else ("instant", "full"):
                    if kind == "full":
                        seconds["full"] += full_restore(repo)
                    else:
                        to_heartbeat, read = instant(lab, repo, work)
                        seconds["instant"] += to_heartbeat
                        seconds["nfs read"] += read
                        seconds["nbdcopy"] += nbdcopy(repo, work, "bench-%d" % r)
    finally:
        destroy_vm(vm)
    rounds, mib = args.rounds, args.gib * 1024 * args.rounds
    figures = {"gib": args.gib, "rounds": rounds,
               "full_restore_seconds_to_heartbeat": round(seconds["full"] / rounds, 1),
               "instant_seconds_to_heartbeat": round(seconds["instant"] / rounds, 1),
               "full_vs_instant_time": round(seconds["full"] / seconds["instant"], 1),
               "nfs_read_mib_s": round(mib / seconds["nfs read"], 1), "nbdcopy_mib_s": round(mib / seconds["nbdcopy"], 1),
               "nfs_read_vs_nbdcopy": round(seconds["nbdcopy"] / seconds["nfs read"], 2)}
    print("start to heartbeat: full restore %.1f s, instant %.1f s (%.1fx sooner)" % (
        figures["full_restore_seconds_to_heartbeat"], figures["instant_seconds_to_heartbeat"], figures["full_vs_instant_time"]))
    print("sequential read: guest over NFS %.1f MiB/s, nbdcopy of the export %.1f MiB/s (%.2f)" % (
        figures["nfs_read_mib_s"], figures["nbdcopy_mib_s"], figures["nfs_read_vs_nbdcopy"]))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
