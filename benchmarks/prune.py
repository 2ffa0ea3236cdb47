"""Benchmark: prune and garbage collection of a large repository against listing its chunk folders.

No lab needed (.venv/bin/python benchmarks/prune.py). Builds a synthetic repository of --points
points (one VM, one disk each, nightly) over --chunks distinct chunks: each point names
--per-point chunks, most shared with its neighbours, as nightly incrementals do. Chunk files hold a
few bytes each (collection never reads a chunk's data, only its name and size), so the repository
builds in seconds. Then, in the same run: lists every chunk file (the floor: a collection must at
least do that), and prunes with keep_daily 30 and keep_monthly 12 (removing most points) and
collects the garbage. Prints both times, their ratio, the peak memory of the prune (tracemalloc)
and what it removed, as a table and as JSON.
"""
import argparse
import datetime
import hashlib
import json
import os
import sys
import tempfile
import time
import tracemalloc

sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "collections")]
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.prune import PruneJob, PruneOptions  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.index import DiskIndex  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.points import new_point_id  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository  # noqa: E402


def _digest(n):
    return hashlib.sha256(b"chunk %d" % n).hexdigest()


def build(path, points, chunks, per_point):
    repo = Repository.create(path, chunk_size=65536)
    for n in range(chunks):
        target = repo.storage.path(repo.chunks.key(_digest(n)))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(b"x" * 64)
    step = max(1, (chunks - per_point) // max(1, points - 1))  # each night moves the window: new chunks, shared ones
    start = datetime.datetime(2024, 1, 1, 21, tzinfo=datetime.timezone.utc)
    for p in range(points):
        when = start + datetime.timedelta(days=p)
        first = min(p * step, chunks - per_point)
        writer = repo.points.begin("uuid-bench", new_point_id(when))
        index = DiskIndex(65536, 65536 * per_point, [_digest(first + i) for i in range(per_point)])
        name = writer.write_file("disk-2000.index", index.to_bytes())
        writer.commit({"type": "incremental" if p else "full", "parent": None, "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "vm": {"name": "bench", "instance_uuid": "uuid-bench"}, "config": None, "nvram": None,
                       "disks": [{"key": 2000, "label": "Hard disk 1", "capacity_bytes": index.capacity, "index": name}]})
    return repo


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=100000)
    parser.add_argument("--per-point", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        repo = build(os.path.join(work, "repo"), args.points, args.chunks, args.per_point)
        start = time.monotonic()
        listed = sum(len(files) for _d, _s, files in os.walk(os.path.join(repo.location, "chunks")))
        floor = time.monotonic() - start
        tracemalloc.start()
        start = time.monotonic()
        result = PruneJob(PruneOptions(repository=repo.location, keep_daily=30, keep_monthly=12)).run()
        pruned = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    figures = {"points": args.points, "chunks": listed, "list_seconds": round(floor, 3), "prune_seconds": round(pruned, 3),
               "ratio": round(pruned / floor, 1), "peak_mib": round(peak / (1 << 20), 1),
               "points_removed": result["points_removed"], "chunks_removed": result["gc"]["chunks_removed"]}
    print("%-34s %10s" % ("list the chunk folders (floor)", "%.2f s" % floor))
    print("%-34s %10s  (%.1f x the floor)" % ("prune %d of %d points + collect" % (result["points_removed"], args.points),
                                              "%.2f s" % pruned, pruned / floor))
    print("%-34s %10s" % ("peak memory of the prune", "%.1f MiB" % (peak / (1 << 20))))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
