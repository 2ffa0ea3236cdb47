"""Benchmark: a repository in a bucket against the same repository in a folder, and against boto3
alone.

No lab needed (.venv/bin/python benchmarks/object_storage.py): it starts its own S3 server (the
lab's SeaweedFS, tests/lab/object_storage.py) on loopback. Stores --mib MiB (half random, half
compressible text, in 4 MiB chunks) into a folder repository and a bucket repository, then reads
every chunk back (verified, as a restore does), each as many chunks at once as the data mover
takes from that storage (storage.concurrency), alternating the two round by round so both see
the same machine load. Then copies the folder's point into a new bucket prefix with
repository_copy's job, against uploading the same stored objects with boto3's put_object alone, as
many at once: the floor of a copy. Prints MiB/s, the bucket/folder ratios (goal: 0.8 on a
loopback server), the copy/boto3 ratio (goal 0.9) and the S3 requests per GiB stored, as a table
and as JSON. Like benchmarks/encryption.py it measures the store alone; a backup also waits for
VDDK.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", ".build", "collections"), os.path.join(HERE, "..", "tests", "lab"),
                os.path.join(HERE, "..", "tests", "support")]
import object_storage  # noqa: E402
import synthetic_repo  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.copy import CopyJob, CopyOptions  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository  # noqa: E402

CHUNK = 4 << 20


def chunks(count):
    text = (b"the quick brown fox jumps over the lazy dog, again and again " * 70000)[:CHUNK]
    return [os.urandom(CHUNK) if i % 2 else text[:-8] + i.to_bytes(8, "little") for i in range(count)]


def _copy(folder, state, s3, round_number):
    """Seconds repository_copy's job takes to copy the folder's point into a new bucket prefix."""
    synthetic_repo.add_point(folder, "bench", synthetic_repo.utc(2026, 12, 1 + round_number), [
        folder.chunks.get(name) for name, _stored in sorted(folder.chunks.stored())])
    start = time.monotonic()
    CopyJob(CopyOptions(repository=folder.location, target="s3://%s/copy-%d" % (state["bucket"], round_number),
                        target_s3=s3, lock_timeout=0)).run()
    return time.monotonic() - start


def _upload(folder, bucket_storage, state, round_number):
    """Seconds boto3's put_object alone takes to upload the folder's stored chunks, as many at once."""
    stored = [folder.storage.read(o.key) for _name, o in folder.chunks.stored()]
    client = bucket_storage.client
    start = time.monotonic()
    with ThreadPoolExecutor(bucket_storage.concurrency) as pool:
        list(pool.map(lambda i: client.put_object(Bucket=state["bucket"], Key="raw-%d/%d" % (round_number, i),
                                                  Body=stored[i]), range(len(stored))))
    return time.monotonic() - start


def _fail(message):
    raise SystemExit(message)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = chunks(args.mib * (1 << 20) // CHUNK)
    seconds = {(kind, side): 0.0 for kind in ("folder", "bucket", "boto3") for side in ("store", "read", "copy")}
    requests = {"count": 0}
    with tempfile.TemporaryDirectory() as work:
        state = object_storage.start(work, _fail)
        s3 = {"endpoint_url": state["endpoint"], "access_key": state["access_key"], "secret_key": state["secret_key"],
              "region": object_storage.REGION}
        try:
            for r in range(args.rounds):
                repos = {}
                for kind in ("folder", "bucket") if r % 2 == 0 else ("bucket", "folder"):
                    location = os.path.join(work, "repo-%d" % r) if kind == "folder" else "s3://%s/bench-%d" % (state["bucket"], r)
                    repo = repos[kind] = Repository.create(location, chunk_size=CHUNK, s3=s3)
                    if kind == "bucket":
                        repo.storage.client.meta.events.register("before-call", lambda **_: requests.update(
                            count=requests["count"] + 1))
                    with ThreadPoolExecutor(repo.storage.concurrency) as pool:
                        start = time.monotonic()
                        names = [name for name, _size in pool.map(repo.chunks.put, data)]
                        seconds[kind, "store"] += time.monotonic() - start
                        start = time.monotonic()
                        list(pool.map(lambda name: len(repo.chunks.get(name)), names))
                        seconds[kind, "read"] += time.monotonic() - start
                seconds["bucket", "copy"] += _copy(repos["folder"], state, s3, r)
                counted = requests["count"]  # the floor's own requests are not the repository's
                seconds["boto3", "copy"] += _upload(repos["folder"], repos["bucket"].storage, state, r)
                requests["count"] = counted
        finally:
            object_storage.stop(state)
    total = args.mib * args.rounds
    figures = {"%s_%s_mib_s" % key: round(total / value, 1) for key, value in seconds.items() if value}
    for side in ("store", "read"):
        figures["%s_bucket_vs_folder" % side] = round(seconds["folder", side] / seconds["bucket", side], 3)
        print("%-6s folder %7.1f MiB/s  bucket %7.1f MiB/s  bucket/folder %.2f" % (
            side, total / seconds["folder", side], total / seconds["bucket", side], figures["%s_bucket_vs_folder" % side]))
    figures["copy_vs_boto3"] = round(seconds["boto3", "copy"] / seconds["bucket", "copy"], 3)
    print("copy   folder to bucket %7.1f MiB/s  boto3 put_object alone %7.1f MiB/s  copy/boto3 %.2f" % (
        total / seconds["bucket", "copy"], total / seconds["boto3", "copy"], figures["copy_vs_boto3"]))
    figures["requests_per_gib"] = round(requests["count"] / (total / 1024), 1)
    print("S3 requests of the repository per GiB stored and read back once: %s" % figures["requests_per_gib"])
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
