"""Benchmark: backing up 1, 2 and 4 VMs at once, the way an AWX job template runs them.

Needs the lab running: tests/lab/lab run -- .venv/bin/python benchmarks/many_vms.py [--mib 512]

Makes four VMs with a thin disk of --mib MiB each, written full through the data mover: the first
half the same random bytes on every VM (clones of one template), the second half each VM's own.
Then for 1, 2 and 4 of them, into an empty repository each time: playbooks/backup_vms.yml over an
inventory of those VMs with as many forks (the backup role: CBT, snapshot, transfer in the
background, followed every second: backup_poll_seconds 1, so the default 5 s steps of the follow
loop do not set the figure), timed from ansible-playbook's start to its end. Prints the aggregate
throughput (the VMs' bytes read per second of the whole run), its ratio to one VM's (goal: 4 VMs
>= 1.6x), the repository's dedup ratio (bytes read / bytes stored), and checks that every point
deep-verifies and equals its VM's disk, and how busy the machine's cores were during each run (the
lab, ansible and the workers share them). Prints a table and JSON.

Where the CPU goes: during each run every process's CPU time is sampled from /proc ten times a
second and summed by who spends it: the data path (the transfer workers: VDDK reads, hashing,
compression, stores), this collection's modules (one Python process per task), Ansible itself
(ansible-playbook, async_wrapper, async_status), the simulator, and the rest. A process's last
tenth of a second before it exits is not seen: the shares are a profile, not an account.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

from lab_bench import ROOT, fill_disk  # sets the paths and environment first
from conftest import LabAccess, create_vm, destroy_vm, image_sha, run_module  # noqa: E402

MIB = 1 << 20
NAMES = ["bench-many-%d" % i for i in range(4)]


def _fill(vms, size, work):
    common = os.urandom(size // 2)
    for vm in vms:
        image = os.path.join(work, "image.raw")
        with open(image, "wb") as f:
            f.write(common)
            for _i in range(0, size // 2, 16 * MIB):
                f.write(os.urandom(min(16 * MIB, size // 2)))
        fill_disk(vm, image, [[0, size]], os.path.join(work, "fill"))
        os.remove(image)


def _cpu_times():
    """(busy, total) jiffies of the whole machine: the lab, ansible and the workers all count."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


OUR_MODULES = {name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "modules")) if name.endswith(".py")}
SPENDERS = ("data path", "our modules", "ansible", "simulator", "other")


def _spender(command):
    """Who a process's CPU time counts for, by its command line."""
    module = re.search(r"AnsiballZ_(\w+)\.py", command)
    if "_transfer.worker" in command:
        return "data path"
    if module and module.group(1) in OUR_MODULES:
        return "our modules"
    if module or "ansible-playbook" in command or "async_wrapper" in command:
        return "ansible"
    return "simulator" if "vcsim" in command else "other"


class _CpuSampler(threading.Thread):
    """Every process's CPU seconds, sampled until stopped; by_spender() sums what each spent since
    the start (processes that were already there count from their first sample)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.first, self.last, self.stopped = {}, {}, threading.Event()
        self.hertz = os.sysconf("SC_CLK_TCK")

    def sample(self):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    command = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # gone meanwhile
            fields = stat[stat.rfind(")") + 2:].split()
            key, seconds = (pid, fields[19]), (int(fields[11]) + int(fields[12])) / self.hertz  # start time, utime + stime
            self.first.setdefault(key, (seconds, command))
            known = self.last.get(key)
            # the latest command line (a worker starts as a fork of its module), but not an exiting process's empty one
            self.last[key] = (seconds, command or (known[1] if known else ""))

    def run(self):
        while not self.stopped.wait(0.1):
            self.sample()

    def by_spender(self):
        self.stopped.set()
        self.join()
        spent = collections.Counter()
        for key, (seconds, command) in self.last.items():
            spent[_spender(command)] += seconds - self.first[key][0]
        return spent


def _back_up(lab, names, work):
    """(seconds of the whole run, bytes read, bytes stored, machine CPU busy fraction, CPU seconds
    by spender) of backing names up at once."""
    repo, inventory = os.path.join(work, "repo-%d" % len(names)), os.path.join(work, "vms-%d.json" % len(names))
    with open(inventory, "w") as f:
        json.dump({"all": {"hosts": {name: {} for name in names}}}, f)
    sampler = _CpuSampler()
    sampler.sample()  # the processes already running count from here
    sampler.start()
    start, cpu = time.monotonic(), _cpu_times()
    done = subprocess.run(["ansible-playbook", os.path.join(ROOT, "playbooks", "backup_vms.yml"), "-i", inventory,
                           "--forks", str(len(names)), "-e", json.dumps({"backup_repository": repo, "backup_type": "full", "backup_poll_seconds": 1})],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    seconds, busy = time.monotonic() - start, [b - a for a, b in zip(cpu, _cpu_times())]
    spent = sampler.by_spender()
    if done.returncode:
        sys.exit("backup of %s failed:\n%s" % (names, done.stdout[-3000:]))
    checked = run_module("vadp.vsphere.restore_point_info", {"repository": repo, "verify": "deep"})
    if not checked["verified_ok"] or len(checked["points"]) != len(names):
        sys.exit("the points do not verify: %s" % checked["problems"])
    for point in checked["points"]:
        if image_sha(repo, point["id"]) != lab.inspect(point["vm"])["disks"][0]["sha256"]:
            sys.exit("the point of %s is not its disk" % point["vm"])
    read = sum(p["logical_bytes"] for p in checked["points"])
    stored = sum(p["stored_bytes"] for p in checked["points"])
    subprocess.run(["rm", "-rf", repo], check=True)
    return seconds, read, stored, busy[0] / busy[1], spent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=512, help="disk size per VM (default 512)")
    args = parser.parse_args()
    size = args.mib * MIB
    lab = LabAccess()
    si = lab.connect()
    vms = [create_vm(si, name, [args.mib]) for name in NAMES]
    rows = []
    try:
        with tempfile.TemporaryDirectory() as work:
            _fill(vms, size, work)
            for count in (1, 2, 4):
                rows.append((count,) + _back_up(lab, NAMES[:count], work))
    finally:
        for vm in vms:
            destroy_vm(vm)
    one = rows[0][2] / rows[0][1]
    print("%-6s %10s %12s %8s %8s %10s   CPU seconds: %s" % ("VMs", "seconds", "MiB/s", "ratio", "dedup", "CPU busy", ", ".join(SPENDERS)))
    results = []
    for count, seconds, read, stored, busy, spent in rows:
        rate = read / seconds
        results.append({"vms": count, "seconds": round(seconds, 2), "mib_per_s": round(rate / MIB, 1),
                        "ratio_to_one": round(rate / one, 2), "dedup": round(read / stored, 2),
                        "machine_cpu_busy": round(busy, 2), "cpu_seconds": {k: round(spent[k], 2) for k in SPENDERS}})
        shares = " ".join("%.1f" % spent[k] for k in SPENDERS)
        print("%-6d %10.2f %12.1f %8.2f %8.2f %9.0f%%   %s" % (count, seconds, rate / MIB, rate / one, read / stored, 100 * busy, shares))
    four = results[2]["cpu_seconds"]
    print(json.dumps({"mib_per_vm": args.mib, "results": results, "four_vs_one": results[2]["ratio_to_one"],
                      "four_dedup": results[2]["dedup"], "four_data_path_cpu_share": round(four["data path"] / sum(four.values()), 2)}))


if __name__ == "__main__":
    main()
