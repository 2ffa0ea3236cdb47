"""Benchmark: recovery drills of 1 VM and of 4 VMs at once, on the lab.

Needs the lab running: tests/lab/lab run -- .venv/bin/python benchmarks/drill.py [--mib 256]

Makes four bootable VMs with a thin disk of --mib MiB each, written full of random bytes through the
data mover, backs each up, then drills the first alone (parallel 1) and all four at once (parallel
4) with vadp.vsphere.recovery_drill on the lab's isolated port group. Prints each VM's recovery time
(from the start of its drill to its VMware Tools heartbeat: creating the VM, filling its disk,
booting), the whole run's time, and the ratio of the 4-VM run's time to the 1-VM run's (4.0 would
mean no overlap at all). The lab's guests boot at once once powered on, so the figures are the
product's share of a drill. Prints a table and JSON.
"""
import argparse
import json
import os
import sys
import tempfile
import time

from lab_bench import fill_disk  # sets the paths and environment first
from conftest import LabAccess, create_vm, destroy_vm, run_module  # noqa: E402

MIB = 1 << 20
NAMES = ["bench-drill-%d" % i for i in range(4)]


def _drill(repo, names):
    start = time.monotonic()
    done = run_module("vadp.vsphere.recovery_drill", {"repository": repo, "vms": names, "network": "Isolated Network",
                                                      "host": "DC0_H0", "parallel": len(names)})
    seconds = time.monotonic() - start
    if done.get("failed"):
        sys.exit("the drill of %s failed: %s" % (names, done["msg"]))
    return seconds, [d["recovery_seconds"] for d in done["drills"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256, help="disk size per VM (default 256)")
    args = parser.parse_args()
    lab = LabAccess()
    si = lab.connect()
    vms = [create_vm(si, name, [args.mib]) for name in NAMES]
    try:
        with tempfile.TemporaryDirectory() as work:
            image = os.path.join(work, "image.raw")
            for vm in vms:
                with open(image, "wb") as f:
                    f.write(bytes(512 * 3))  # keeps the boot sector the lab installed
                    for _i in range(0, args.mib * MIB - 1536, 16 * MIB):
                        f.write(os.urandom(16 * MIB))
                    f.truncate(args.mib * MIB)
                fill_disk(vm, image, [[1536, args.mib * MIB - 1536]], os.path.join(work, "fill"))
            repo = os.path.join(work, "repo")
            for name in NAMES:
                backup = run_module("vadp.vsphere.vm_backup", {"name": name, "repository": repo})
                if backup.get("failed"):
                    sys.exit("backup of %s failed: %s" % (name, backup["msg"]))
            one_seconds, one = _drill(repo, NAMES[:1])
            four_seconds, four = _drill(repo, NAMES)
    finally:
        for vm in vms:
            destroy_vm(vm)
    print("%-6s %12s %s" % ("VMs", "run seconds", "recovery seconds per VM (start to heartbeat)"))
    print("%-6d %12.1f %s" % (1, one_seconds, one))
    print("%-6d %12.1f %s" % (4, four_seconds, four))
    print(json.dumps({"mib_per_vm": args.mib, "one_vm": {"seconds": round(one_seconds, 1), "recovery_seconds": one},
                      "four_vms": {"seconds": round(four_seconds, 1), "recovery_seconds": four},
                      "four_vs_one_time": round(four_seconds / one_seconds, 2)}))


if __name__ == "__main__":
    main()
