# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An nbdkit plugin (nbdkit-python-plugin, API version 2) that serves one disk of a restore point,
read-only, reading each chunk from the repository when a client first asks for it and verifying
it as it is read. Started by export.nbd_export, never imported by a module: nbdkit loads this file
as its __main__ and calls the functions below by name.

Arguments (key=value after the script): lib (folders to put on sys.path, separated by ':', so
this file imports the collection's repository code and its libraries), log (a file this plugin
appends its errors to: nbdkit in the background has no stderr), repository, point, disk (the
device key), key_file (an encrypted repository's key). A damaged or missing chunk fails the reads
of its range with EIO and a line in the log that names the chunk; other ranges still read. No
Ansible imports.
"""

import errno
import functools
import io
import sys
import time

API_VERSION = 2
_settings = {}
_disk = {}


def thread_model():
    # nbdkit-python-plugin provides the module at run time
    import nbdkit  # pylint: disable=import-error
    return nbdkit.THREAD_MODEL_PARALLEL


def config(key, value):
    if key not in ("lib", "log", "repository", "point", "disk", "key_file"):
        raise ValueError("unknown argument %s (known: lib, log, repository, point, disk, key_file)" % key)
    _settings[key] = value


def config_complete():
    for name in ("lib", "log", "repository", "point", "disk"):
        if name not in _settings:
            raise ValueError("%s= is required" % name)
    sys.path[:0] = [p for p in _settings["lib"].split(":") if p]
    from ansible_collections.vadp.vsphere.plugins.module_utils.repository.store import Repository
    repository = Repository(_settings["repository"], key_file=_settings.get("key_file"))
    [manifest] = [m for m in repository.manifests() if m["id"] == _settings["point"]]
    [disk] = [d for d in manifest["disks"] if str(d["key"]) == _settings["disk"]]
    index = repository.read_index(manifest, disk)
    _disk.update(repository=repository, index=index, where=" (point %s, disk %s)" % (manifest["id"], disk["key"]),
                 zeros=bytes(index.chunk_size))


# nbdkit calls it by this name
def open(readonly):  # noqa: A001 pylint: disable=redefined-builtin
    return 1


def get_size(h):
    return _disk["index"].capacity


def can_multi_conn(h):
    return True  # read-only: every connection sees the same bytes


@functools.lru_cache(maxsize=8)  # a client reads a chunk in several requests: each chunk is verified once
def _chunk(digest):
    return _disk["repository"].get_chunk(digest, _disk["where"])


def pread(h, buf, offset, flags):
    index, view, done = _disk["index"], memoryview(buf), 0
    while done < len(buf):
        at = offset + done
        number, within = divmod(at, index.chunk_size)
        length = min(len(buf) - done, index.chunk_size - within)
        digest = index.entries[number]
        try:
            data = _disk["zeros"] if digest is None else _chunk(digest)
        except Exception as exc:
            import nbdkit  # pylint: disable=import-error
            with io.open(_settings["log"], "a") as log:  # open() is this plugin's own, for nbdkit
                log.write("%s read of %d bytes at offset %d failed: %s\n" % (
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), len(buf), offset, exc))
            nbdkit.set_error(errno.EIO)
            raise  # nbdkit answers the client EIO
        view[done:done + length] = data[within:within + length]
        done += length
