"""Benchmark: the cost of encryption at rest on the repository side of a backup and of a restore.

No lab needed (.venv/bin/python benchmarks/encryption.py). Stores --mib MiB of data (half random,
half compressible text, in 4 MiB chunks) into an unencrypted and an encrypted repository, then
reads every chunk back (verified, as a restore does), alternating the two repositories round by
round so both see the same machine load. Prints MiB/s of each side and the encrypted/plain
ratio, as a table and as JSON. It measures the store alone (hash or HMAC, zstd, AES-GCM, file
writes): a real backup also waits for VDDK, so the whole job's ratio is closer to 1.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "collections")]
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository  # noqa: E402

CHUNK = 4 << 20


def chunks(count):
    text = (b"the quick brown fox jumps over the lazy dog, again and again " * 70000)[:CHUNK]
    return [os.urandom(CHUNK) if i % 2 else text[:-8] + i.to_bytes(8, "little") for i in range(count)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = chunks(args.mib * (1 << 20) // CHUNK)
    seconds = {(kind, side): 0.0 for kind in ("plain", "encrypted") for side in ("store", "read")}
    with tempfile.TemporaryDirectory() as work:
        key = os.path.join(work, "key")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex())
        for r in range(args.rounds):
            for kind in ("plain", "encrypted") if r % 2 == 0 else ("encrypted", "plain"):
                repo = Repository.create(os.path.join(work, "%s-%d" % (kind, r)), chunk_size=CHUNK,
                                         key_file=key if kind == "encrypted" else None)
                start = time.monotonic()
                names = [repo.chunks.put(d)[0] for d in data]
                seconds[kind, "store"] += time.monotonic() - start
                start = time.monotonic()
                for name in names:
                    repo.chunks.get(name)
                seconds[kind, "read"] += time.monotonic() - start
    total = args.mib * args.rounds
    figures = {"%s_%s_mib_s" % key: round(total / value, 1) for key, value in seconds.items()}
    for side in ("store", "read"):
        figures["%s_ratio" % side] = round(seconds["plain", side] / seconds["encrypted", side], 3)
        print("%-6s plain %8.1f MiB/s   encrypted %8.1f MiB/s   encrypted/plain %.2f" % (
            side, total / seconds["plain", side], total / seconds["encrypted", side], figures["%s_ratio" % side]))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
