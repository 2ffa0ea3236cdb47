# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The NFS server (NFS-Ganesha, NFSv4 only, no rpcbind) that serves this machine's point
datastores: one server for all of them, started with the first and stopped with the last, one
Ganesha EXPORT per datastore at /vadp/<name>.

ESXi mounts NFS on port 2049 only, so one server must serve every datastore. Ganesha claims the
file systems below an export's path when the export is created, and does not find FUSE mounts
made later, nor ones mounted on a file: a datastore's disks are therefore mounted (on folders)
before its export is added, and an export is added by rewriting the configuration and sending
SIGHUP. Its state lives in its folder: server.json (address, port, pid, exports), ganesha.conf,
ganesha.log. No Ansible imports.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from typing import Iterator, List, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils._files import read_json, write_atomically, write_json_atomically
from ansible_collections.vadp.vsphere.plugins.module_utils._export.nbd_export import ExportError
from ansible_collections.vadp.vsphere.plugins.module_utils._export.processes import alive, end

PSEUDO_ROOT = "/vadp"
DEFAULT_PORT = 2049
_RELOADED = "Reread exports complete"


class NfsServerMissingError(ExportError):
    error_code = "NFS_SERVER_MISSING"


class NfsServerError(ExportError):
    error_code = "NFS_SERVER_FAILED"


class NfsClientsRequiredError(ExportError):
    error_code = "NFS_CLIENTS_REQUIRED"


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def checked_clients(address: str, clients: List[str]) -> List[str]:
    """Who may mount: the ESXi hosts' VMkernel addresses or networks. Served disks are writable,
    so a server reachable from other machines never serves everyone by default."""
    for client in clients:
        try:
            ipaddress.ip_network(client, strict=False)
        except ValueError:
            raise NfsClientsRequiredError("nfs_clients entry %r is not an address or a network (CIDR)" % client)
    if clients:
        return list(clients)
    if is_loopback(address):
        return ["127.0.0.0/8"]
    raise NfsClientsRequiredError("the NFS server on %s is reachable from other machines: give nfs_clients, the addresses (or "
                                  "networks) of the ESXi hosts' VMkernel ports that mount the datastore" % address)


def _alive(pid) -> bool:
    return alive(pid, b"ganesha")


def _listening(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=5).close()
        return True
    except OSError:
        return False


class NfsServer:
    """The Ganesha server kept in folder (one per machine unless told)."""

    def __init__(self, folder: str):
        self.folder = folder
        self._state_file = os.path.join(folder, "server.json")
        self._conf = os.path.join(folder, "ganesha.conf")
        self.log = os.path.join(folder, "ganesha.log")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One change of the server's exports at a time, across processes."""
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        with open(os.path.join(self.folder, "lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def state(self) -> Optional[dict]:
        """The running server's state, or None (a server whose process is gone is not running)."""
        state = read_json(self._state_file)
        return state if state and _alive(state.get("pid")) else None

    def add(self, name: str, path: str, address: str, port: int, clients: List[str], restart: bool = False) -> dict:
        """Serve path at /vadp/<name> (call with the lock held); starts the server when none runs.
        restart: for a path served before by this server with other mounts below it (a datastore
        served again), which Ganesha would keep resolving to the old ones (NFS4ERR_XDEV)."""
        if shutil.which("ganesha.nfsd") is None:
            raise NfsServerMissingError("NFS-Ganesha is not installed on this host (Debian, Ubuntu: apt-get install "
                                        "nfs-ganesha nfs-ganesha-vfs)")
        state = self.state()
        if state and (state["address"], state["port"]) != (address, port):
            raise NfsServerError("this host's NFS server already serves on %s port %d (datastores %s): give that address and "
                                 "port, or stop those datastores first" % (state["address"], state["port"],
                                                                           ", ".join(e["name"] for e in state["exports"])))
        exports = [e for e in (state or {}).get("exports", []) if e["name"] != name]
        exports.append({"name": name, "path": path, "clients": clients,
                        "id": 1 + max([e["id"] for e in exports] or [0])})
        new_state = {"address": address, "port": port, "exports": exports, "pid": state and state["pid"]}
        self._configure(new_state)
        if state and restart:
            self.stop()
            state = None
        if state:
            self._reload(state["pid"])
        else:
            new_state["pid"] = self._start(address, port)
        write_json_atomically(self._state_file, new_state)
        return {"remote_host": address, "remote_path": "%s/%s" % (PSEUDO_ROOT, name), "port": port}

    def remove(self, name: str) -> None:
        """Stop serving /vadp/<name> (call with the lock held); the last export stops the server."""
        state = self.state()
        if state is None:
            return
        state["exports"] = [e for e in state["exports"] if e["name"] != name]
        if not state["exports"]:
            self.stop()
            return
        self._configure(state)
        self._reload(state["pid"])
        write_json_atomically(self._state_file, state)

    def stop(self) -> None:
        end((read_json(self._state_file) or {}).get("pid"), b"ganesha")
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._state_file)

    def _configure(self, state: dict) -> None:
        recovery = os.path.join(self.folder, "recovery")
        os.makedirs(recovery, mode=0o700, exist_ok=True)
        # NFSv4 only: with no rpcbind here, registering v3, NLM or RQUOTA would stop Ganesha
        lines = ["NFS_CORE_PARAM { Bind_addr = %s; NFS_Port = %d; Protocols = 4; Enable_UDP = false; "
                 "Enable_RQUOTA = false; Enable_NLM = false; }" % (state["address"], state["port"]),
                 # no grace period: a restarted server has no clients to wait for (a VM's I/O resumes)
                 'NFSV4 { Graceless = true; RecoveryRoot = "%s"; }' % recovery]
        for e in state["exports"]:
            lines.append('EXPORT { Export_Id = %d; Path = "%s"; Pseudo = "%s/%s"; Access_Type = None; Squash = No_Root_Squash; '
                         'SecType = sys; Protocols = 4; Transports = TCP; FSAL { Name = VFS; } '
                         'CLIENT { Clients = %s; Access_Type = RW; } }'
                         % (e["id"], e["path"], PSEUDO_ROOT, e["name"], ", ".join(e["clients"])))
        write_atomically(self._conf, "\n".join(lines) + "\n")

    def _start(self, address: str, port: int) -> int:
        if _listening(address, port):  # else the wait below would take another server for ours
            raise NfsServerError("%s port %d is in use by another process (an NFS server this module did not start, "
                                 "or one of another datastores_dir): stop it, or give another nfs_port" % (address, port))
        pid_file = os.path.join(self.folder, "ganesha.pid")
        with contextlib.suppress(FileNotFoundError):
            os.remove(pid_file)
        with open(self.log, "a") as log:
            server = subprocess.Popen(["ganesha.nfsd", "-F", "-f", self._conf, "-p", pid_file, "-L", self.log, "-N", "NIV_EVENT"],
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        start = len(self._log_text())
        deadline = time.monotonic() + 60
        while not _listening(address, port):
            if server.poll() is not None or time.monotonic() > deadline:
                if server.poll() is None:
                    server.kill()
                raise NfsServerError("NFS-Ganesha did not start on %s port %d: %s" % (address, port, self._log_tail()))
            time.sleep(0.1)
        try:
            self._refuse_config_errors(start)
        except NfsServerError:
            server.kill()
            raise
        return server.pid

    def _reload(self, pid: int) -> None:
        """SIGHUP makes Ganesha reread its exports; return once its log says it has."""
        log = self._log_text()
        before, start = log.count(_RELOADED), len(log)
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while self._log_text().count(_RELOADED) <= before:
            if not _alive(pid) or time.monotonic() > deadline:
                raise NfsServerError("NFS-Ganesha (pid %d) did not reload its exports: %s" % (pid, self._log_tail()))
            time.sleep(0.1)
        self._refuse_config_errors(start)

    def _refuse_config_errors(self, since: int) -> None:
        """Ganesha serves on with an export it could not parse left out: that is a failure here."""
        errors = [line for line in self._log_text()[since:].splitlines() if ":CONFIG :CRIT :" in line]
        if errors:
            raise NfsServerError("NFS-Ganesha refused its configuration %s: %s" % (self._conf, "\n".join(errors[:5])))

    def _log_text(self) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _log_tail(self) -> str:
        lines = [line for line in self._log_text().splitlines() if ":CRIT :" in line or ":FATAL :" in line or ":MAJ :" in line]
        return "\n".join(lines[-10:]) or "see %s" % self.log
