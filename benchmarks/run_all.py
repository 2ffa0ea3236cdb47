"""Run every benchmark once and publish the figures: `make bench` (it starts the lab).

Each benchmark prints its figures as JSON on its last line. This keeps that JSON, with the
machine and the time, in benchmarks/results/NAME.json, draws benchmarks/results/ratios.svg (each
ratio as a bar beside its baseline, 1.0, and its goal) and writes docs/performance.md (the table of
the figures against their goals, and the chart; what follows NOTES_MARK there is kept). Every ratio
compares two runs made side by side in the same benchmark run, so a busy machine moves both.
"""
import datetime
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
NOTES_MARK = "<!-- from here on written by hand: run_all.py keeps it -->"

# name, arguments, [(figure, how it is read from the JSON, goal as text, goal test or None)]
BENCHMARKS = [
    ("vddk_write", ["--gib", "1"], [
        ("mover, 1 disk / plain pwrite", lambda j: j["results"][1]["ratio_to_baseline"], ">= 0.9", lambda v: v >= 0.9),
        ("mover, 2 disks / 1 disk", lambda j: j["two_disks_vs_one"], ">= 1.5", lambda v: v >= 1.5),
        ("mover peak RSS (MiB)", lambda j: j["results"][1]["peak_rss_mib"], "<= 200", lambda v: v <= 200)]),
    ("backup", ["--gib", "1", "--encrypted"], [
        ("backup transfer / raw read through VDDK", lambda j: j["transfer_vs_raw_read"], ">= 0.9", lambda v: v >= 0.9),
        ("backup transfer / raw read + write of each chunk + one syncfs (one after the other)",
         lambda j: j["transfer_vs_raw_read_and_write"], ">= 0.9", lambda v: v >= 0.9),
        ("backup transfer / writing its chunks alone + one syncfs (the storage's floor)",
         lambda j: j.get("transfer_vs_write_only", "-"), ">= 0.9", lambda v: v >= 0.9),
        ("backup transfer into a repository in memory (tmpfs) / raw read: the pipeline without the storage",
         lambda j: j.get("in_memory_transfer_vs_raw_read", "-"), ">= 0.9", lambda v: v >= 0.9),
        ("encrypted / plain backup transfer", lambda j: j["encrypted_vs_plain_transfer"], ">= 0.9", lambda v: v >= 0.9),
        ("encrypted / plain backup transfer, repositories in memory", lambda j: j.get("in_memory_encrypted_vs_plain_transfer", "-"),
         ">= 0.9", lambda v: v >= 0.9)]),
    ("restore", ["--gib", "4", "--sparse-gib", "16"], [
        ("full restore / mover writing the point from a raw image", lambda j: j["full_vs_baseline_rate"], ">= 0.9",
         lambda v: v >= 0.9),
        ("changed_only / full transfer time (2% of a full 4 GiB disk changed)", lambda j: j["changed_only_vs_full_transfer"],
         "<= 0.05", lambda v: v <= 0.05),
        ("restore worker peak RSS, 4 GiB (MiB)", lambda j: round(j["peak_rss_mib"], 1), "<= 200", lambda v: v <= 200),
        ("backup worker peak RSS, 16 GiB sparse (MiB)", lambda j: j["sparse_backup_peak_rss_mib"], "<= 200", lambda v: v <= 200),
        ("restore worker peak RSS, 16 GiB sparse (MiB)", lambda j: j["sparse_fresh_restore_peak_rss_mib"], "<= 200",
         lambda v: v <= 200)]),
    ("many_vms", ["--mib", "1024"], [
        ("4 VMs at once / 1 VM, backup throughput (whole runs, playbooks/backup_vms.yml)", lambda j: j["four_vs_one"],
         ">= 1.6", lambda v: v >= 1.6),
        ("dedup across 4 VMs backed up at once (half their bytes common)", lambda j: j["four_dedup"], "-", None),
        ("4 VMs at once: the data path's share of the CPU spent (sampled)", lambda j: j.get("four_data_path_cpu_share", "-"), "-", None)]),
    ("encryption", ["--mib", "256"], [
        ("encrypted / plain store (store side only)", lambda j: j["store_ratio"], ">= 0.9", lambda v: v >= 0.9),
        ("encrypted / plain read (store side only)", lambda j: j["read_ratio"], ">= 0.9", lambda v: v >= 0.9)]),
    ("export", ["--mib", "1024"], [
        ("nbdcopy of a point's export / the restore engine reading it into a file", lambda j: j["export_vs_restore_engine"],
         ">= 0.9", lambda v: v >= 0.9)]),
    ("drill", ["--mib", "256"], [
        ("recovery drill of 4 VMs at once / of 1 VM, whole run time", lambda j: j["four_vs_one_time"], "-", None),
        ("recovery time of 1 VM, start to heartbeat (s)", lambda j: j["one_vm"]["recovery_seconds"][0], "-", None)]),
    ("ransomware", ["--mib", "256", "--rounds", "8"], [
        ("backup without / with the ransomware flags (median of incrementals)", lambda j: j["without_vs_with_flags"], ">= 0.95",
         lambda v: v >= 0.95),
        ("YARA scan of a point's guest files, MiB/s (reading and matching)", lambda j: j["scan_rate_without_start_mib_s"], "-",
         None),
        ("YARA scan of a point, MiB/s with the export and appliance start", lambda j: j["scan_rate_mib_s"], "-", None)]),
    ("object_storage", ["--mib", "512"], [
        ("bucket / folder repository, store (loopback S3 server)", lambda j: j["store_bucket_vs_folder"], ">= 0.8",
         lambda v: v >= 0.8),
        ("bucket / folder repository, read (loopback S3 server)", lambda j: j["read_bucket_vs_folder"], ">= 0.8",
         lambda v: v >= 0.8),
        ("repository_copy folder to bucket / boto3 put_object of the same objects", lambda j: j["copy_vs_boto3"], ">= 0.9",
         lambda v: v >= 0.9),
        ("S3 requests per GiB stored and read back", lambda j: j["requests_per_gib"], "-", None)]),
    ("instant", ["--gib", "4"], [
        ("instant recovery, start to heartbeat (s)", lambda j: j["instant_seconds_to_heartbeat"], "-", None),
        ("full restore, start to heartbeat (s)", lambda j: j["full_restore_seconds_to_heartbeat"], "-", None),
        ("full restore / instant recovery, time to heartbeat (4 GiB point)", lambda j: j["full_vs_instant_time"], "-", None),
        ("guest sequential read over the NFS datastore / nbdcopy of the export", lambda j: j["nfs_read_vs_nbdcopy"], "-",
         None)]),
    ("prune", [], [
        ("prune + GC time / listing the chunks", lambda j: j["ratio"], "-", None),
        ("prune peak memory (MiB)", lambda j: j["peak_mib"], "-", None)]),
]


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    memory = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return {"cpu": model, "cores": os.cpu_count(), "memory_mib": memory, "system": platform.platform(),
            "python": platform.python_version()}


def run(name, arguments):
    done = subprocess.run([sys.executable, os.path.join(HERE, name + ".py")] + arguments, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit("benchmark %s failed:\n%s%s" % (name, done.stdout, done.stderr))
    print(done.stdout)
    return json.loads(done.stdout.strip().splitlines()[-1])


def chart(rows):
    """A horizontal bar a ratio, with the baseline (1.0) and the goal marked: plain SVG, no library."""
    ratios = [(label, value, goal) for label, value, goal, _ok in rows  # a ratio names both runs
              if " / " in label and isinstance(value, (int, float))]
    top = max([2.0] + [v for _l, v, _g in ratios])
    left, width, bar_height, gap = 20 + 7 * max(len(label) for label, _v, _g in ratios), 420, 18, 10
    scale = width / top
    height = 40 + len(ratios) * (bar_height + gap)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">'
             % (left + width + 60, height)]
    for i, (label, value, goal) in enumerate(ratios):
        y = 20 + i * (bar_height + gap)
        parts.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 8, y + 13, label))
        parts.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="#4a7ab8"/>' % (left, y, value * scale, bar_height))
        parts.append('<text x="%.1f" y="%d">%.2f</text>' % (left + value * scale + 4, y + 13, value))
        target = goal.split()[-1] if goal != "-" else None
        if target:
            x = left + float(target) * scale
            parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c0392b" stroke-width="2"/>' % (x, y - 2, x, y + bar_height + 2))
    x = left + scale
    parts.append('<line x1="%.1f" y1="10" x2="%.1f" y2="%d" stroke="#333" stroke-dasharray="4 3"/>' % (x, x, height - 20))
    parts.append('<text x="%.1f" y="%d" text-anchor="middle">baseline 1.0 (red: goal)</text>' % (x, height - 5))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _stored(name):
    """The result benchmarks/results/NAME.json keeps from an earlier run, or None."""
    try:
        with open(os.path.join(RESULTS, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    """python benchmarks/run_all.py [NAME ...]: with names, only those run again and the others'
    figures are the ones kept from their last run (each row says when it ran)."""
    os.makedirs(RESULTS, exist_ok=True)
    when, host = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), machine()
    chosen = set(sys.argv[1:]) or {name for name, _arguments, _figures in BENCHMARKS}
    rows = []
    for name, arguments, figures in BENCHMARKS:
        if name in chosen:
            kept = {"benchmark": name, "arguments": arguments, "time": when, "machine": host, "result": run(name, arguments)}
            with open(os.path.join(RESULTS, name + ".json"), "w") as f:
                json.dump(kept, f, indent=2)
        else:
            kept = _stored(name)
        for label, read, goal, test in figures:
            value = read(kept["result"]) if kept else "not run yet"
            rows.append(("%s (%s)" % (label, kept["time"][:10] if kept else "-"), value, goal,
                         None if test is None or not kept else test(value)))
    with open(os.path.join(RESULTS, "ratios.svg"), "w") as f:
        f.write(chart(rows))
    lines = ["# Performance", "",
             "Written by `make bench` (benchmarks/run_all.py) on %s: %s, %d cores, %d MiB, %s, Python %s." % (
                 when, host["cpu"], host["cores"], host["memory_mib"], host["system"], host["python"]),
             "Each ratio compares two runs made side by side in the same run (these machines are noisy: a",
             "baseline alone moves by 2x between runs). What each benchmark measures is at the top of its",
             "file in benchmarks/; the raw figures are in benchmarks/results/.", "",
             "| figure | value | goal | met |", "|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s |" % (label, value, goal, "-" if ok is None else ("yes" if ok else "**no**"))
              for label, value, goal, ok in rows]
    lines += ["", "![ratios against their baselines](../benchmarks/results/ratios.svg)", ""]
    page = os.path.join(ROOT, "docs", "performance.md")
    with open(page) as f:
        text = f.read()
    notes = text[text.index(NOTES_MARK):] if NOTES_MARK in text else NOTES_MARK + "\n"
    with open(page, "w") as f:
        f.write("\n".join(lines) + "\n" + notes)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
