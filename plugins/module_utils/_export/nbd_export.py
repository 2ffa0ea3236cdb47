# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One disk of a restore point served over NBD by nbdkit, with no copy made first: nbdkit runs our
plugin (nbdkit_plugin.py), which reads and verifies each chunk when a client first reads it.

An export outlives the module that starts it, so it keeps what it needs in its own folder (under
~/.vadp/exports unless told): a copy of the collection's module_utils for the plugin to import
(an Ansible module's own copy is deleted when the module returns), nbdkit's pid file and log, and
export.json, the record that lists and stops it. A record whose nbdkit is gone is stale and is
removed when exports are listed. No Ansible imports.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from typing import List, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError, VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._export import nbdkit_plugin
from ansible_collections.vadp.vsphere.plugins.module_utils._export.processes import alive, end, wait_for_pid_file
from ansible_collections.vadp.vsphere.plugins.module_utils._files import read_json, write_json_atomically
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import DEFAULT_LEASE_TIMEOUT, RepositoryBusyError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointDamagedError, PointNotFoundError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.s3 import environment as s3_environment
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import is_remote
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

PACKAGE = "ansible_collections/vadp/vsphere/plugins/module_utils"


class ExportError(VadpError):
    error_code = "EXPORT_FAILED"


class NbdkitMissingError(ExportError):
    error_code = "NBDKIT_MISSING"


class TlsRequiredError(ExportError):
    error_code = "TLS_REQUIRED"


_NAME_MAX = 200  # bytes: an export's folder name, well within the 255 a file system holds


def checked_name(name: str) -> str:
    """name, if it can only name a folder directly under the exports folder: an export's name
    becomes a folder that start replaces and stop removes, so it is never a path."""
    if not name or name in (".", "..") or "/" in name or "\0" in name or len(name.encode()) > _NAME_MAX:
        raise InvalidSettingsError("export name %r is not a name: give letters, digits, dots, dashes or underscores, "
                                   "without '/', not '.' or '..', at most %d bytes" % (name, _NAME_MAX))
    return name


def default_exports_dir() -> str:
    return os.path.join(os.environ.get("HOME") or "/tmp", ".vadp", "exports")


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    repository: str
    vm: Optional[str] = None  # name at backup time or instance uuid; needed unless restore_point is an id
    restore_point: str = "latest"
    disk: Optional[str] = None  # device key; the point's first disk when not given
    name: Optional[str] = None
    socket: Optional[str] = None  # a Unix socket path, or:
    address: Optional[str] = None  # host:port for TCP
    tls_psk_file: Optional[str] = None
    copy_on_write: bool = False
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None  # how to reach a repository in object storage (s3.OPTIONS)
    lock_timeout: int = DEFAULT_LEASE_TIMEOUT  # for the export's shared lease on the repository


def _alive(pid) -> bool:
    return alive(pid, b"nbdkit")


def _wait_for_lease(o: "ExportOptions", pid: int, state_file: str, log: str) -> None:
    """Return once the served process holds its repository lease (it waits up to lock_timeout for a
    prune to end); raise what kept it from taking it."""
    deadline = time.monotonic() + o.lock_timeout + 60
    while True:
        state = read_json(state_file)
        if state is not None:
            if state.get("held"):
                return
            error = RepositoryBusyError if state.get("error_code") == RepositoryBusyError.error_code else ExportError
            raise error("the export did not start: %s" % state.get("message"))
        if not _alive(pid) or time.monotonic() > deadline:
            with open(log) as f:
                raise ExportError("nbdkit (pid %s) ended before it held its repository lease: %s" % (pid, f.read().strip()[-2000:]))
        time.sleep(0.05)


def _wait_until_listening(o: "ExportOptions", pid: int, log: str, timeout: float = 60) -> None:
    """Return once the export accepts a connection, so that a client started right after the
    module never meets "connection refused"; the bound is for an nbdkit that never listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if o.socket:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(o.socket)
            else:
                host, _sep, port = o.address.rpartition(":")
                socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
            return
        except OSError:
            if not _alive(pid) or time.monotonic() > deadline:
                with open(log) as f:
                    raise ExportError("nbdkit (pid %s) does not accept connections: %s" % (pid, f.read().strip()[-2000:]))
            time.sleep(0.05)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _path_without_virtual_environments() -> str:
    """PATH less the bin folders of virtual environments. The Python nbdkit embeds finds its standard
    library from the first python3 on PATH: a virtual environment's, made from another build of
    Python, would give it a standard library that is not its own (ssl, which boto3 needs, then fails
    to import)."""
    return os.pathsep.join(folder for folder in os.environ.get("PATH", "").split(os.pathsep)
                           if not os.path.exists(os.path.join(os.path.dirname(folder), "pyvenv.cfg")))


def _copy_module_utils(destination: str) -> None:
    """This collection's module_utils, where the plugin imports them from: from the folder they
    were imported from, or from an Ansible module's payload zip."""
    source = os.path.dirname(os.path.dirname(os.path.abspath(nbdkit_plugin.__file__)))  # .../plugins/module_utils
    target = os.path.join(destination, PACKAGE)
    if os.path.isdir(source):
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        return
    archive = source[:source.index(".zip") + 4]
    with zipfile.ZipFile(archive) as payload:
        for member in payload.namelist():
            if member.startswith(PACKAGE + "/") and member.endswith(".py"):
                payload.extract(member, destination)


class NbdExports:
    """The exports this machine runs, each in a folder of its own under folder."""

    def __init__(self, folder: Optional[str] = None):
        self.folder = folder or default_exports_dir()

    def _record_path(self, name: str) -> str:
        return os.path.join(self.folder, name, "export.json")

    def list(self) -> List[dict]:
        """The running exports; a stale one (its nbdkit gone) is removed and not listed."""
        running = []
        for name in sorted(os.listdir(self.folder)) if os.path.isdir(self.folder) else []:
            record = read_json(self._record_path(name))
            if record and _alive(record.get("pid")):
                running.append(record)
            elif record is not None:  # its nbdkit is gone (killed, the host restarted)
                self._remove(record)
        return running

    def find(self, name: str) -> Optional[dict]:
        return next((r for r in self.list() if r["name"] == name), None)

    def plan(self, o: ExportOptions) -> dict:
        """What start would serve: checked (name, point, disk, key, transport) before anything runs."""
        if o.name is not None:
            checked_name(o.name)
        if shutil.which("nbdkit") is None:
            raise NbdkitMissingError("nbdkit is not installed on this host: install nbdkit and its Python plugin "
                                     "(Debian, Ubuntu: apt-get install nbdkit nbdkit-plugin-python)")
        if bool(o.socket) == bool(o.address):
            raise ExportError("give socket (a Unix socket path) or address (host:port for TCP), one of them")
        if o.address:
            host, _sep, port = o.address.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ExportError("address %r is not host:port (a port from 1 to 65535)" % o.address)
            if not _loopback(host.strip("[]")) and not o.tls_psk_file:
                raise TlsRequiredError("an export on %s is reachable from other machines: give tls_psk_file (TLS with a "
                                       "pre-shared key) or serve on a Unix socket or a loopback address" % o.address)
        repository = Repository(o.repository, key_file=o.encryption_key_file, s3=o.s3)
        if o.vm:
            point = repository.points.find(repository.points.vm_key(o.vm, option="vm"), o.restore_point)
        else:
            damaged = []  # another VM's damaged point does not stop an export of this one
            point = next((m for m in repository.points.list(damaged=damaged) if m["id"] == o.restore_point), None)
            own = [d for d in damaged if d["point"] == o.restore_point]
            if point is None and own:
                raise PointDamagedError(own[0]["problem"])
            if point is None:
                raise PointNotFoundError("restore_point %r is not a point id of %s: give vm to choose by time or latest"
                                         % (o.restore_point, o.repository))
        disks = {str(d["key"]): d for d in point["disks"]}
        disk = disks.get(o.disk) if o.disk else point["disks"][0]
        if disk is None:
            raise PointNotFoundError("point %s has no disk %s (its disks: %s)" % (point["id"], o.disk, ", ".join(disks)))
        repository.points.read_index(point, disk)  # readable, and with an encrypted repository the key is right
        name = o.name or "%s-%s" % (point["id"], disk["key"])
        if o.socket:
            uri = "nbd+unix:///?socket=%s" % o.socket
        else:
            uri = "%s://%s" % ("nbds" if o.tls_psk_file else "nbd", o.address)
        return {"name": name, "uri": uri, "repository": o.repository if is_remote(o.repository) else os.path.abspath(o.repository), "point": point["id"],
                "vm": point["vm"]["name"], "disk": disk["key"], "capacity_bytes": disk["capacity_bytes"],
                "copy_on_write": o.copy_on_write, "socket": o.socket, "address": o.address}

    def start(self, o: ExportOptions, plan: dict) -> dict:
        folder = os.path.join(self.folder, checked_name(plan["name"]))
        if os.path.exists(folder):
            shutil.rmtree(folder)  # a stale export's folder (a running one is found before start is called)
        os.makedirs(folder, mode=0o700)
        try:
            return self._start(o, plan, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _start(self, o: ExportOptions, plan: dict, folder: str) -> dict:
        lib = os.path.join(folder, "lib")
        _copy_module_utils(lib)
        pid_file, log = os.path.join(folder, "nbdkit.pid"), os.path.join(folder, "nbdkit.log")
        # nbdkit reports a bad start on stderr, then goes to the background once it listens, where its
        # stderr is gone: the plugin appends its own errors (a damaged chunk) to the same log
        command = ["nbdkit", "--pidfile", pid_file]
        if o.socket:
            command += ["--unix", o.socket]
        else:
            host, _sep, port = o.address.rpartition(":")
            command += ["--ipaddr", host.strip("[]"), "--port", port]
        if o.tls_psk_file:
            command += ["--tls=require", "--tls-psk=%s" % o.tls_psk_file]
        # copy-on-write: the client's writes go to a temporary overlay, never to the repository
        command += ["--filter=cow"] if o.copy_on_write else ["--readonly"]
        # the plugin imports our copy, then the libraries of this Python (zstandard, cryptography)
        paths = ":".join([lib] + [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)])
        lease_state = os.path.join(folder, "lease.json")
        command += ["python", os.path.join(lib, PACKAGE, "_export", "nbdkit_plugin.py"), "lib=" + paths, "log=" + log,
                    "repository=" + plan["repository"], "point=" + plan["point"], "disk=%s" % plan["disk"],
                    "name=" + plan["name"], "lease_state=" + lease_state, "lock_timeout=%d" % o.lock_timeout]
        if o.encryption_key_file:
            command.append("key_file=" + os.path.abspath(o.encryption_key_file))
        with open(log, "w") as errors:
            # an object store's credentials reach nbdkit as boto3's environment variables, never its command line
            env = dict(os.environ, PATH=_path_without_virtual_environments(), **s3_environment(o.s3))
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=errors, stderr=errors, check=False, timeout=120,
                                  env=env)
        pid = None if done.returncode else wait_for_pid_file(pid_file)
        if done.returncode or not _alive(pid):
            with open(log) as f:
                raise ExportError("nbdkit did not start (exit code %s): %s" % (done.returncode, f.read().strip()[-2000:]))
        try:
            _wait_for_lease(o, pid, lease_state, log)
            _wait_until_listening(o, pid, log)
        except BaseException:
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)  # an nbdkit still waiting for its lease, or serving unseen
            raise
        record = dict(plan, pid=pid, log=log, started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        write_json_atomically(os.path.join(folder, "export.json"), record)
        return record

    def stop(self, record: dict) -> None:
        """End the export's nbdkit (SIGTERM, then SIGKILL after 30 s) and remove its folder."""
        end(record["pid"], b"nbdkit")
        self._remove(record)

    def _remove(self, record: dict) -> None:
        shutil.rmtree(os.path.join(self.folder, record["name"]), ignore_errors=True)
        if record.get("socket") and os.path.exists(record["socket"]):
            os.remove(record["socket"])  # nbdkit leaves it when killed, and a new export could not bind it
