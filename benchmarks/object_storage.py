"""Benchmark: a repository in a bucket against the same repository in a folder, and against boto3
alone.

No lab needed (.venv/bin/python benchmarks/object_storage.py): it starts its own S3 server (the
lab's SeaweedFS, tests/lab/object_storage.py) on loopback. Stores --mib MiB (half random, half
compressible text, in 4 MiB chunks) into a folder repository and a bucket repository, then reads
every chunk back (verified, as a restore does), alternating the two round by round so both see
the same machine load; then uploads the bytes the bucket repository stored with boto3's
put_object alone, the floor for the bucket side. Prints MiB/s, the bucket/folder ratios (goal:
0.8 on a loopback server), the bucket/boto3 ratio and the S3 requests per GiB stored, as a table
and as JSON. Like benchmarks/encryption.py it measures the store alone; a backup also waits for
VDDK.
"""
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", ".build", "collections"), os.path.join(HERE, "..", "tests", "lab")]
import object_storage  # noqa: E402
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository  # noqa: E402

CHUNK = 4 << 20


def chunks(count):
    text = (b"the quick brown fox jumps over the lazy dog, again and again " * 70000)[:CHUNK]
    return [os.urandom(CHUNK) if i % 2 else text[:-8] + i.to_bytes(8, "little") for i in range(count)]


def _fail(message):
    raise SystemExit(message)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = chunks(args.mib * (1 << 20) // CHUNK)
    seconds = {(kind, side): 0.0 for kind in ("folder", "bucket", "boto3") for side in ("store", "read")}
    requests = {"count": 0}
    with tempfile.TemporaryDirectory() as work:
        state = object_storage.start(work, _fail)
        s3 = {"endpoint_url": state["endpoint"], "access_key": state["access_key"], "secret_key": state["secret_key"],
              "region": object_storage.REGION}
        try:
            for r in range(args.rounds):
                for kind in ("folder", "bucket") if r % 2 == 0 else ("bucket", "folder"):
                    location = os.path.join(work, "repo-%d" % r) if kind == "folder" else "s3://%s/bench-%d" % (state["bucket"], r)
                    repo = Repository.create(location, chunk_size=CHUNK, s3=s3)
                    if kind == "bucket":
                        repo.storage.client.meta.events.register("before-call", lambda **_: requests.update(
                            count=requests["count"] + 1))
                    start = time.monotonic()
                    names = [repo.chunks.put(d)[0] for d in data]
                    seconds[kind, "store"] += time.monotonic() - start
                    start = time.monotonic()
                    for name in names:
                        repo.chunks.get(name)
                    seconds[kind, "read"] += time.monotonic() - start
                    if kind == "bucket":  # the same stored bytes, put and got with boto3 alone (not counted)
                        counted = requests["count"]
                        stored = [repo.storage.read(repo.chunks.key(n)) for n in names]
                        client = repo.storage.client
                        start = time.monotonic()
                        for i, blob in enumerate(stored):
                            client.put_object(Bucket=state["bucket"], Key="raw-%d/%d" % (r, i), Body=blob)
                        seconds["boto3", "store"] += time.monotonic() - start
                        start = time.monotonic()
                        for i in range(len(stored)):
                            client.get_object(Bucket=state["bucket"], Key="raw-%d/%d" % (r, i))["Body"].read()
                        seconds["boto3", "read"] += time.monotonic() - start
                        requests["count"] = counted
        finally:
            object_storage.stop(state)
    total = args.mib * args.rounds
    figures = {"%s_%s_mib_s" % key: round(total / value, 1) for key, value in seconds.items()}
    for side in ("store", "read"):
        figures["%s_bucket_vs_folder" % side] = round(seconds["folder", side] / seconds["bucket", side], 3)
        figures["%s_bucket_vs_boto3" % side] = round(seconds["boto3", side] / seconds["bucket", side], 3)
        print("%-6s folder %7.1f MiB/s  bucket %7.1f MiB/s  boto3 alone %7.1f MiB/s  bucket/folder %.2f  bucket/boto3 %.2f" % (
            side, total / seconds["folder", side], total / seconds["bucket", side], total / seconds["boto3", side],
            figures["%s_bucket_vs_folder" % side], figures["%s_bucket_vs_boto3" % side]))
    figures["requests_per_gib"] = round(requests["count"] / (total / 1024), 1)
    print("S3 requests of the repository per GiB stored and read back once: %s" % figures["requests_per_gib"])
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
