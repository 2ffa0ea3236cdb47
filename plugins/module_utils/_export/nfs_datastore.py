# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A restore point served as an NFS datastore folder, for a VM to run from before any copy is
made (instant recovery). For each disk of the point, a chain of real parts:

    nbdkit (our plugin, read-only: reads and verifies chunks on demand, holds the repository lease)
    -> qemu-nbd serving a qcow2 overlay whose backing file is that export (the VM's writes)
    -> nbdfuse mounting the overlay as <vm folder>/<disk>.data/<disk>-flat.vmdk
    -> NFS-Ganesha serving the datastore folder (nfs_server.py)

beside a VMFS descriptor <vm folder>/<disk>.vmdk whose extent is that file. The overlay is a file
in the datastore's state folder: it survives a restart of any process in the chain, and is the
VM's new data until the VM is moved off the datastore. The point is never written.

Each disk's FUSE mount is a folder, not the flat file itself: Ganesha only crosses into file
systems mounted on folders. State: <root>/<name>/datastore.json. No Ansible imports.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import re
import shutil
import stat
import subprocess
import time
from typing import List, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils._files import read_json, write_atomically, write_json_atomically
from ansible_collections.vadp.vsphere.plugins.module_utils._export.nbd_export import ExportError, ExportOptions, NbdExports, checked_name
from ansible_collections.vadp.vsphere.plugins.module_utils._export.processes import alive, end, read_pid, wait_for_pid_file
from ansible_collections.vadp.vsphere.plugins.module_utils._export.nfs_server import DEFAULT_PORT, NfsServer, checked_clients
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import DEFAULT_LEASE_TIMEOUT

SECTOR = 512
_TOOLS = {"qemu-img": "qemu-utils", "qemu-nbd": "qemu-utils", "nbdfuse": "nbdfuse", "fusermount3": "fuse3"}


class DatastoreToolMissingError(ExportError):
    error_code = "DATASTORE_TOOL_MISSING"


class DatastoreStartError(ExportError):
    error_code = "DATASTORE_START_FAILED"


def default_datastores_dir() -> str:
    return os.path.join(os.environ.get("HOME") or "/tmp", ".vadp", "datastores")


@dataclasses.dataclass(frozen=True)
class DatastoreOptions:
    repository: str
    vm: str
    restore_point: str = "latest"
    name: Optional[str] = None
    nfs_address: str = "127.0.0.1"
    nfs_port: int = DEFAULT_PORT
    nfs_clients: tuple = ()
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None
    lock_timeout: int = DEFAULT_LEASE_TIMEOUT
    datastores_dir: Optional[str] = None


def _file_base(disk: dict, taken: set) -> str:
    """The disk's file name as it was ("[ds] web01/web01_1.vmdk" gives web01_1), unique in the folder."""
    stem = posixpath.basename((disk.get("backing") or {}).get("file_name") or "").rsplit(".vmdk", 1)[0]
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "disk-%s" % disk["key"]
    base, n = stem, 1
    while base in taken:
        base, n = "%s_%d" % (stem, n), n + 1
    taken.add(base)
    return base


def descriptor_text(disk: dict, extent: str) -> str:
    """A VMFS flat descriptor for the disk, with the geometry and adapter it was backed up with."""
    sectors = disk["capacity_bytes"] // SECTOR
    ddb = {k: v for k, v in (disk.get("vddk_metadata") or {}).items()
           if k in ("adapterType", "virtualHWVersion", "geometry.cylinders", "geometry.heads", "geometry.sectors")}
    ddb.setdefault("adapterType", "lsilogic")
    uuid = (disk.get("backing") or {}).get("uuid")
    if uuid:  # ddb form: "60 00 c2 9a ...-..." (16 bytes as hex pairs, a dash after the eighth)
        pairs = re.findall("..", uuid.replace("-", "").lower())
        if len(pairs) == 16:
            ddb["uuid"] = " ".join(pairs[:8]) + "-" + " ".join(pairs[8:])
    lines = ["# Disk DescriptorFile", "version=1", 'encoding="UTF-8"', "CID=fffffffe", "parentCID=ffffffff",
             'createType="vmfs"', "", "# Extent description", 'RW %d VMFS "%s"' % (sectors, extent), "",
             "# The Disk Data Base", "#DDB", ""]
    lines += ['ddb.%s = "%s"' % (k, ddb[k]) for k in sorted(ddb)]
    return "\n".join(lines) + "\n"


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        raise DatastoreToolMissingError("%s is not installed on this host (Debian, Ubuntu: apt-get install %s)"
                                        % (tool, _TOOLS[tool]))


def _run(command: List[str]) -> None:
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode:
        raise DatastoreStartError("%s failed (exit code %d): %s" % (command[0], done.returncode, done.stderr.strip()[-2000:]))


def _socket_folder_of(state: str) -> str:
    """The folder of a datastore's Unix sockets: short (a socket's path has at most 107 bytes, a state
    folder's may be longer), and the same for the same state folder (the overlay's backing file names
    its socket, so a datastore served again finds it)."""
    return "/tmp/vadp-ds-%s" % hashlib.sha256(os.path.abspath(state).encode()).hexdigest()[:16]


def _socket_folder(state: str) -> str:
    """_socket_folder_of(state), made if need be, and checked to be private to this user."""
    folder = _socket_folder_of(state)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    found = os.lstat(folder)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        raise DatastoreStartError("%s, the folder of this datastore's sockets, is not a private folder of this user: "
                                  "remove it and run again" % folder)
    return folder


class PointDatastores:
    """The point datastores this machine serves, each in <root>/<name> (its state) with the served
    folder <root>/<name>/datastore."""

    def __init__(self, folder: Optional[str] = None):
        self.folder = folder or default_datastores_dir()
        self.server = NfsServer(os.path.join(self.folder, ".server"))

    def list(self) -> List[dict]:
        records = []
        for name in sorted(os.listdir(self.folder)) if os.path.isdir(self.folder) else []:
            record = read_json(os.path.join(self.folder, name, "datastore.json"))
            if record:
                records.append(dict(record, health=self.health(record)))
        return records

    def find(self, name: str) -> Optional[dict]:
        return next((r for r in self.list() if r["name"] == name), None)

    def health(self, record: dict) -> List[str]:
        """What of the chain is not running: empty when the datastore is served."""
        problems = []
        server = self.server.state()
        if server is None or record["name"] not in [e["name"] for e in server["exports"]]:
            problems.append("the NFS server does not serve it")
        for disk in record["disks"]:
            if not alive(disk.get("nbdkit_pid"), b"nbdkit"):
                problems.append("disk %s: the repository export (nbdkit) is not running" % disk["key"])
            if not alive(disk.get("qemu_nbd_pid"), b"qemu-nbd"):
                problems.append("disk %s: the overlay server (qemu-nbd) is not running" % disk["key"])
            if not os.path.ismount(disk["mount"]):
                problems.append("disk %s: its file is not mounted (nbdfuse)" % disk["key"])
        return problems

    def plan(self, o: DatastoreOptions, point: dict) -> dict:
        """What start would serve, checked before anything runs."""
        for tool in ("qemu-img", "qemu-nbd", "nbdfuse", "fusermount3"):
            _need(tool)
        clients = checked_clients(o.nfs_address, list(o.nfs_clients))
        name = checked_name(o.name or "vadp-%s" % point["id"])
        # the name and the folder go into Ganesha's configuration and the NFS path: nothing that could end a quoted value
        if not re.match(r"^[A-Za-z0-9_.-]+$", name) or '"' in self.folder:
            raise InvalidSettingsError("datastore name %r: give letters, digits, dots, dashes or underscores (and a "
                                       "datastores_dir without double quotes)" % name)
        vm_folder = re.sub(r"[^A-Za-z0-9_.-]", "_", point["vm"]["name"]) or "vm"
        taken: set = set()
        disks = []
        for disk in point["disks"]:
            if disk.get("index") is None:
                continue  # a physical RDM: the point holds no data for it
            base = _file_base(disk, taken)
            disks.append({"key": disk["key"], "label": disk.get("label"), "capacity_bytes": disk["capacity_bytes"],
                          "descriptor": "%s/%s.vmdk" % (vm_folder, base), "base": base})
        if not disks:
            raise ExportError("point %s has no disk with data to serve" % point["id"])
        return {"name": name, "point": point["id"], "vm": point["vm"]["name"], "vm_folder": vm_folder,
                "repository": o.repository, "nfs_address": o.nfs_address, "nfs_port": o.nfs_port, "nfs_clients": clients,
                "disks": disks}

    def start(self, o: DatastoreOptions, plan: dict, point: dict) -> dict:
        """Serve the point; when the datastore's state is there (a datastore whose chain stopped, say
        after a restart of this host), serve it again with its overlays and the VM's files as they are."""
        state = os.path.join(self.folder, plan["name"])
        existing = read_json(os.path.join(state, "datastore.json"))
        if existing:
            self._release(existing)
        else:
            os.makedirs(os.path.join(state, "datastore", plan["vm_folder"]), mode=0o700)
        record = dict(plan, folder=os.path.join(state, "datastore"), disks=[], state=state)
        try:
            by_key = {d["key"]: d for d in point["disks"]}
            for disk in plan["disks"]:
                record["disks"].append(self._serve_disk(o, record, disk, by_key[disk["key"]]))
                write_json_atomically(os.path.join(state, "datastore.json"), record)
            with self.server.locked():
                record.update(self.server.add(plan["name"], record["folder"], o.nfs_address, o.nfs_port, plan["nfs_clients"],
                                              restart=bool(existing)))
            record["started"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            write_json_atomically(os.path.join(state, "datastore.json"), record)
            return dict(record, health=[])
        except BaseException:
            self._release(record)
            if not existing:
                shutil.rmtree(state, ignore_errors=True)
                shutil.rmtree(_socket_folder_of(state), ignore_errors=True)
            raise

    def _serve_disk(self, o: DatastoreOptions, record: dict, disk: dict, point_disk: dict) -> dict:
        state, key = record["state"], disk["key"]
        sockets = _socket_folder(state)
        served = dict(disk, mount=os.path.join(record["folder"], record["vm_folder"], disk["base"] + ".data"),
                      overlay=os.path.join(state, "disk-%s.qcow2" % key), base_socket=os.path.join(sockets, "%s.ro.sock" % key),
                      overlay_socket=os.path.join(sockets, "%s.rw.sock" % key))
        exports = NbdExports(os.path.join(state, "exports"))
        options = ExportOptions(repository=o.repository, vm=o.vm, restore_point=record["point"], disk=str(key), name="disk-%s" % key,
                                socket=served["base_socket"], encryption_key_file=o.encryption_key_file, s3=o.s3,
                                lock_timeout=o.lock_timeout)
        export = exports.start(options, exports.plan(options))
        served["nbdkit_pid"] = export["pid"]
        if not os.path.exists(served["overlay"]):  # a served-again datastore keeps the VM's writes
            _run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", export["uri"], served["overlay"],
                  str(disk["capacity_bytes"])])
        pid_file = os.path.join(state, "%s.qemu-nbd.pid" % key)
        # --persistent: serve every NFS client's reconnect; --shared: nbdfuse's parallel connections
        _run(["qemu-nbd", "--fork", "--persistent", "--shared=8", "--pid-file", pid_file, "--socket", served["overlay_socket"],
              "-f", "qcow2", served["overlay"]])
        served["qemu_nbd_pid"] = wait_for_pid_file(pid_file)
        os.makedirs(served["mount"], exist_ok=True)
        flat = os.path.join(served["mount"], disk["base"] + "-flat.vmdk")
        fuse_pid_file = os.path.join(state, "%s.nbdfuse.pid" % key)
        with open(os.path.join(state, "%s.nbdfuse.log" % key), "w") as log:
            fuse = subprocess.Popen(["nbdfuse", "-C", "4", "-P", fuse_pid_file, flat, "--unix", served["overlay_socket"]],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        served["nbdfuse_pid"] = fuse.pid
        deadline = time.monotonic() + 60
        while read_pid(fuse_pid_file) is None:  # written once the file is mounted
            if fuse.poll() is not None or time.monotonic() > deadline:
                with open(log.name) as f:
                    raise DatastoreStartError("nbdfuse did not mount disk %s: %s" % (key, f.read().strip()[-2000:]))
            time.sleep(0.05)
        write_atomically(os.path.join(record["folder"], disk["descriptor"]),
                         descriptor_text(point_disk, "%s.data/%s-flat.vmdk" % (disk["base"], disk["base"])), mode=0o644)
        return served

    def stop(self, record: dict) -> None:
        """Stop serving and remove everything: the NFS export, the mounts, the overlay servers and
        files, the repository exports, the folder with the VM's files. The overlays hold the VM's
        writes: the caller has decided they are no longer needed."""
        self._release(record)
        shutil.rmtree(_socket_folder_of(os.path.join(self.folder, record["name"])), ignore_errors=True)
        shutil.rmtree(os.path.join(self.folder, record["name"]), ignore_errors=True)

    def _release(self, record: dict) -> None:
        """Stop every process of the datastore's chain; its files stay."""
        with self.server.locked():
            self.server.remove(record["name"])
        for disk in record.get("disks", []):
            if os.path.ismount(disk["mount"]):
                subprocess.run(["fusermount3", "-u", "-z", disk["mount"]], capture_output=True, check=False, timeout=60)
            end(disk.get("nbdfuse_pid"), b"nbdfuse")
            end(disk.get("qemu_nbd_pid"), b"qemu-nbd")
        exports = NbdExports(os.path.join(self.folder, record["name"], "exports"))
        for export in exports.list():
            exports.stop(export)
