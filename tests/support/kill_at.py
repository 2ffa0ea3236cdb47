"""Runs one repository operation and kills itself (SIGKILL) just before its Nth file-system
change (in a bucket: its Nth request that writes or deletes an object): the crash a power cut or
an OOM kill causes, at a point the test chooses.

    python kill_at.py N OPERATION REPOSITORY

OPERATION: backup (a synthetic point of VM "web01" under a shared lease, as a backup writes it),
prune (keep_last 2, with garbage collection), gc (garbage collection alone), copy (every point
into REPOSITORY-copy, a folder or prefix beside it) or sealed-copy (the same of an encrypted
REPOSITORY, without its key). With N = 0 it
runs to the end and prints the number of changes it made ("changes N").
"""
import functools
import os
import signal
import sys
import threading

CHANGES = ("open", "link", "unlink", "rename", "replace", "rmdir", "mkdir", "utime", "chmod")
_count = 0
_counting = threading.Lock()  # a copy sends chunks from several threads: each change counted once


def _counted(function, kill_at):
    @functools.wraps(function)
    def change(*args, **kwargs):
        global _count
        if function.__name__ == "open" and len(args) > 1 and isinstance(args[1], int) and \
                not args[1] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            return function(*args, **kwargs)  # a read changes nothing
        with _counting:
            _count += 1
            if _count == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return change


def main():
    kill_at, operation, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    import synthetic_repo as synth
    from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.prune import PruneJob, PruneOptions
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository import garbage, locks
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
    repo = Repository(path, sealed=operation == "sealed-copy")
    if path.startswith("s3://"):
        from ansible_collections.vadp.vsphere.plugins.module_utils._repository.s3 import S3Storage
        for name in ("create", "delete", "retain"):  # each one request that changes the bucket
            setattr(S3Storage, name, _counted(getattr(S3Storage, name), kill_at))
    else:
        for name in CHANGES:
            setattr(os, name, _counted(getattr(os, name), kill_at))
    if operation == "backup":
        with repo.lease(locks.SHARED, "backup of web01") as lease:
            # two chunks the repository has, two new ones: the same each run, so a re-run meets what a killed run left
            disk = [synth.chunk(10 + i) if i % 2 else synth.chunk(i) for i in range(4)]
            manifest = synth.add_point(repo, "web01", synth.utc(2026, 6, 1, 21), disk, commit_check=lease.check)
            print("point %s" % manifest["id"])
    elif operation == "prune":
        PruneJob(PruneOptions(repository=path, keep_last=2, lock_timeout=0)).run()
    elif operation in ("copy", "sealed-copy"):
        from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.copy import CopyJob, CopyOptions
        print(CopyJob(CopyOptions(repository=path, target=path + "-copy", lock_timeout=0)).run()["points_copied"])
    else:
        with repo.lease(locks.EXCLUSIVE, "gc", timeout=0):
            garbage.collect_garbage(repo)
    print("changes %d" % _count)


if __name__ == "__main__":
    main()
