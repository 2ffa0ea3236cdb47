# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An nbdkit plugin (nbdkit-python-plugin, API version 2) that serves one disk of a restore point,
read-only, reading each chunk from the repository when a client first asks for it and verifying
it as it is read, requests in parallel, and a few chunks ahead of a sequential reader. Started by
export.nbd_export, never imported by a module: nbdkit loads this file
as its __main__ and calls the functions below by name.

Arguments (key=value after the script): lib (folders to put on sys.path, separated by ':', so
this file imports the collection's repository code and its libraries), log (a file this plugin
appends its errors to: nbdkit in the background has no stderr), repository (a folder, or
s3://bucket/prefix reached through the AWS_ environment variables nbdkit is started with), point,
disk (the device key), key_file (an encrypted repository's key), name (the export's), lease_state (a file
this plugin writes once it holds its lease, or could not), lock_timeout (seconds to wait for it).
A damaged or missing chunk fails the reads of its range with EIO and a line in the log that names
the chunk; other ranges still read.

The served process holds a shared repository lease for its whole life, taken after nbdkit has
gone to the background (a lease names its process, and the one before the fork exits), so a prune
waits for the export to end, or fails naming it, instead of removing chunks under it. No Ansible
imports.
"""

import collections
import concurrent.futures
import contextlib
import errno
import io
import json
import os
import sys
import threading
import time

API_VERSION = 2
_ARGUMENTS = ("lib", "log", "repository", "point", "disk", "key_file", "name", "lease_state", "lock_timeout")
_settings = {}
_disk = {}
_cache_lock = threading.Lock()


def thread_model():
    # nbdkit-python-plugin provides the module at run time
    import nbdkit  # pylint: disable=import-error
    return nbdkit.THREAD_MODEL_PARALLEL


def config(key, value):
    if key not in _ARGUMENTS:
        raise ValueError("unknown argument %s (known: %s)" % (key, ", ".join(_ARGUMENTS)))
    _settings[key] = value


def config_complete():
    for name in ("lib", "log", "repository", "point", "disk", "name", "lease_state", "lock_timeout"):
        if name not in _settings:
            raise ValueError("%s= is required" % name)
    sys.path[:0] = [p for p in _settings["lib"].split(":") if p]
    _load_disk()


def _load_disk():
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
    repository = Repository(_settings["repository"], key_file=_settings.get("key_file"))
    manifest = repository.points.by_id(_settings["point"])
    [disk] = [d for d in manifest["disks"] if str(d["key"]) == _settings["disk"]]
    index = repository.points.read_index(manifest, disk)
    _disk.update(repository=repository, index=index, where=" (point %s, disk %s)" % (manifest["id"], disk["key"]),
                 zeros=bytes(index.chunk_size))


def _write_lease_state(state):
    temporary = _settings["lease_state"] + ".tmp"
    with io.open(temporary, "w") as f:
        json.dump(state, f)
    os.rename(temporary, _settings["lease_state"])


# nbdkit calls it by this name, in the process that serves, before it serves
def after_fork():
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import SHARED
    held = _disk["held"] = contextlib.ExitStack()
    try:
        held.enter_context(_disk["repository"].lease(
            SHARED, "export %s of point %s disk %s" % (_settings["name"], _settings["point"], _settings["disk"]),
            timeout=float(_settings["lock_timeout"])))
        _load_disk()  # under the lease: a prune may have removed the point between the checks and now
    except Exception as exc:
        _write_lease_state({"error_code": getattr(exc, "error_code", "EXPORT_FAILED"), "message": str(exc)})
        raise
    _write_lease_state({"held": True})


# nbdkit calls it by this name when it exits (stopped by the module, or killed by a signal it handles)
def cleanup():
    if "held" in _disk:
        _disk.pop("held").close()  # gives the lease back


def _cache():
    """The serving process's chunk cache, made at its first read (its threads must not cross nbdkit's fork)."""
    with _cache_lock:
        if "cache" not in _disk:
            _disk["cache"] = _ChunkCache(_disk["repository"], _disk["index"], _disk["where"])
        return _disk["cache"]


# nbdkit calls it by this name
def open(readonly):  # noqa: A001 pylint: disable=redefined-builtin
    return 1


def get_size(h):
    return _disk["index"].capacity


def can_multi_conn(h):
    return True  # read-only: every connection sees the same bytes


class _ChunkCache:
    """The chunks recently read or being read, each verified once (a client reads a chunk in
    several requests), and the next few fetched ahead of a sequential reader such as nbdcopy, on
    threads of their own (hashing and zstd release the GIL; a bucket's round trips overlap).
    Bounded: three times what is read ahead, in memory."""

    def __init__(self, repository, index, where):
        from ansible_collections.vadp.vsphere.plugins.module_utils._repository.chunks import read_ahead_chunks
        self.repository, self.index, self.where = repository, index, where
        self.ahead = read_ahead_chunks(index.chunk_size)
        self.kept = 3 * self.ahead
        self.lock = threading.Lock()
        self.futures = collections.OrderedDict()  # digest -> Future of its data, oldest first
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, repository.storage.concurrency),
                                                          thread_name_prefix="export-fetch")
        self.last = None  # the chunk number the previous read ended in

    def _fetch(self, digest):
        return self.repository.chunks.get(digest, self.where)

    def _want(self, digest):
        future = self.futures.get(digest)
        if future is None:
            future = self.futures[digest] = self.pool.submit(self._fetch, digest)
        self.futures.move_to_end(digest)
        return future

    def get(self, number):
        """The data of chunk number (not a zero chunk)."""
        with self.lock:
            future = self._want(self.index.entries[number])
            if self.last is not None and number in (self.last, self.last + 1):  # a sequential reader: read ahead
                for ahead in range(number + 1, min(number + 1 + self.ahead, len(self.index.entries))):
                    if self.index.entries[ahead] is not None:
                        self._want(self.index.entries[ahead])
            self.last = number
            while len(self.futures) > self.kept:
                self.futures.popitem(last=False)
        return future.result()


def pread(h, buf, offset, flags):
    index, view, done = _disk["index"], memoryview(buf), 0
    while done < len(buf):
        at = offset + done
        number, within = divmod(at, index.chunk_size)
        length = min(len(buf) - done, index.chunk_size - within)
        digest = index.entries[number]
        try:
            data = _disk["zeros"] if digest is None else _cache().get(number)
        except Exception as exc:
            import nbdkit  # pylint: disable=import-error
            with io.open(_settings["log"], "a") as log:  # open() is this plugin's own, for nbdkit
                log.write("%s read of %d bytes at offset %d failed: %s\n" % (
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), len(buf), offset, exc))
            nbdkit.set_error(errno.EIO)
            raise  # nbdkit answers the client EIO
        view[done:done + length] = data[within:within + length]
        done += length
