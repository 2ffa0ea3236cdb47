"""Benchmark: reading a whole point through restore_point_export against the restore engine.

No lab needed, only the VDDK double (tests/lab/lab build) and nbdkit:
.venv/bin/python benchmarks/export.py [--mib 1024]

Makes a point of --mib MiB of random data (4 MiB chunks, a repository in a temporary folder), then,
alternating the two --rounds times so both see the same machine load:
  restore engine  the data mover writing the point into a local VMDK through the VDDK double
                  (transport "file"), every chunk verified (the baseline);
  export          restore_point_export's core starts nbdkit with our plugin on a Unix socket, and
                  nbdcopy copies the whole export into a file on the same file system.
Each export copy is checked against the point's SHA-256. Prints MiB/s of both and the ratio
(goal: export >= 0.8x the restore engine), as a table and as JSON.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.vadp.vsphere.plugins.module_utils._export.nbd_export import ExportOptions, NbdExports  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.restore_plan import disk_plan  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.index import DiskIndex
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer import plan as transfer_plan  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.mover import DataMover  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.vddk import VixDiskLib  # noqa: E402

MIB, CHUNK = 1 << 20, 4 << 20
LIBDIR = os.path.join(ROOT, "tests", "lab", ".build", "vddk")


def make_point(path, size):
    """A repository with one point of size random bytes; (repository, manifest, the image's SHA-256)."""
    repo, digest, entries = Repository.create(path, chunk_size=CHUNK), hashlib.sha256(), []
    for _i in range(size // CHUNK):
        data = os.urandom(CHUNK)
        digest.update(data)
        entries.append(repo.chunks.put(data)[0])
    writer = repo.points.begin("bench-export-vm")
    index = writer.write_file("disk-2000.index", DiskIndex(CHUNK, size, entries).to_bytes())
    manifest = writer.commit({"type": "full", "parent": None, "time": "2026-12-03T00:00:00Z",
                              "vm": {"name": "bench-export", "instance_uuid": "bench-export-vm", "uuid": "bench-export-vm"},
                              "config": None, "nvram": None,
                              "disks": [{"key": 2000, "label": "Hard disk 1", "capacity_bytes": size, "index": index}]})
    return repo, manifest, digest.hexdigest()


def restore_engine(repo, manifest, size, work, name):
    local = VixDiskLib.load(LIBDIR).connect_params().connect(transports="file")
    path = os.path.join(work, name + ".vmdk")
    local.create(path, size // 512)
    local.disconnect()
    plan = disk_plan(repo, manifest, manifest["disks"][0], {"key": 2000, "file_name": path}, "fresh", verify=True)
    start = time.monotonic()
    DataMover(os.path.join(work, name + "-state")).run(transfer_plan.TransferPlan(
        "write", transfer_plan.VddkLibrary(LIBDIR), transfer_plan.ConnectParams(transports="file"), [plan]), {})
    return time.monotonic() - start


def export_copy(repo, manifest, work, name, expected):
    exports = NbdExports(os.path.join(work, "exports"))
    options = ExportOptions(repository=repo.location, restore_point=manifest["id"], name=name,
                            socket=os.path.join(work, name + ".sock"))
    record = exports.start(options, exports.plan(options))
    target = os.path.join(work, name + ".raw")
    try:
        start = time.monotonic()
        subprocess.run(["nbdcopy", record["uri"], target], check=True)
        seconds = time.monotonic() - start
    finally:
        exports.stop(record)
    with open(target, "rb") as f:
        if hashlib.file_digest(f, "sha256").hexdigest() != expected:
            sys.exit("the export's bytes are not the point's")
    os.remove(target)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = args.mib * MIB
    seconds = {"restore engine": 0.0, "export": 0.0}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/var/tmp")) as work:
        repo, manifest, expected = make_point(os.path.join(work, "repo"), size)
        for r in range(args.rounds):
            for kind in ("restore engine", "export") if r % 2 == 0 else ("export", "restore engine"):
                name = "%s-%d" % (kind.split()[0], r)
                if kind == "export":
                    seconds[kind] += export_copy(repo, manifest, work, name, expected)
                else:
                    seconds[kind] += restore_engine(repo, manifest, size, work, name)
                    for suffix in (".vmdk", "-flat.vmdk"):
                        if os.path.exists(os.path.join(work, name + suffix)):
                            os.remove(os.path.join(work, name + suffix))
    total = args.mib * args.rounds
    ratio = round(seconds["restore engine"] / seconds["export"], 2)
    for kind, value in seconds.items():
        print("%-16s %8.1f MiB/s" % (kind, total / value))
    print("export / restore engine %.2f" % ratio)
    print(json.dumps({"mib": args.mib, "rounds": args.rounds, "export_vs_restore_engine": ratio,
                      "mib_per_s": {k: round(total / v, 1) for k, v in seconds.items()}}))


if __name__ == "__main__":
    main()
