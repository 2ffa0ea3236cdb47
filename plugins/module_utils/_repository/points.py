# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The point catalogue (docs/restore-point-format.md, "manifest.json" to "Writing a point"): the
points under vms/ in the repository's storage, each a folder (a key prefix) with its manifest and
disk indexes, every file written once; reading them (every
manifest checked against its place), choosing one by id, latest or time, and writing a new one
(indexes first, the manifest last, under a lease the writer checks before it commits). In an
encrypted repository every point file is sealed to its path. No Ansible imports.
"""

import datetime
import json
import re
import secrets
from typing import List, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils._repository import crypto
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import (
    PointDamagedError,
    PointNotFoundError,
    RepositoryError,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.index import DiskIndex

POINT_FORMAT = "vadp-restore-point"  # a manifest's format
FORMAT_VERSION = 2  # 2: leases, protected points, encryption (docs/restore-point-format.md)
READABLE_VERSIONS = (1, 2)
PROTECTED_MARK = "protected"  # an empty file in a point folder: prune keeps the point, delete refuses
# A point dated more than this after the reading host's clock was written by a host whose clock is
# ahead: it never stands in for the newest point unless asked for by id or by a time.
FUTURE_TOLERANCE = datetime.timedelta(minutes=5)
_POINT_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def parse_time(text):
    """A manifest's time (UTC, ISO 8601 with Z) as an aware datetime."""
    return datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")


def from_the_future(manifest, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return parse_time(manifest["time"]) > now + FUTURE_TOLERANCE


def new_point_id(now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def point_order(manifest):
    """Oldest first: time is to the second, so points of one second sort by time_precise (the
    id's suffix is random); points written before time_precise by id."""
    return manifest["time"], manifest.get("time_precise") or "", manifest["id"]


def is_point_id(text):
    """Whether text is written as new_point_id writes ids (not a selector such as latest or a time)."""
    return bool(_POINT_ID.match(text or ""))


class PointCatalogue:
    """The points of the repository in storage (chunk_size and keys: the repository's)."""

    def __init__(self, storage, chunk_size: int, keys: Optional[crypto.RepositoryKeys] = None):
        self.storage, self.chunk_size, self.keys = storage, chunk_size, keys

    # point files: written once, sealed to their key in an encrypted repository ---------------
    def read_file(self, key):
        """A manifest, index or NVRAM file, decrypted and authenticated in an encrypted repository."""
        data = self.storage.read(key)
        return self.keys.open_file(key, data) if self.keys else data

    def write_file(self, key, data, lock=None):
        """Write a point file once (locked until lock.until when a lock is given: no later point
        shares it). The same bytes again (a retried worker) are no change; other bytes under a key
        that exists are refused: nothing of a point is ever overwritten."""
        data = self.keys.seal_file(key, data) if self.keys else data
        if not self.storage.create(key, data, retain_until=lock.until if lock else None):
            try:
                same = self.read_file(key) == (self.keys.open_file(key, data) if self.keys else data)
            except (OSError, crypto.TamperedError):
                same = False
            if not same:
                raise RepositoryError("%s exists already with other contents: a point file is written once, never "
                                      "replaced" % self.storage.describe(key))

    def load_index(self, key, name="index"):
        try:
            return DiskIndex.from_bytes(self.read_file(key), name)
        except OSError as exc:
            raise RepositoryError("%s cannot be read: %s" % (name, exc))

    def write_index(self, key, index, lock=None):
        self.write_file(key, index.to_bytes(), lock)

    def read_index(self, manifest, disk):
        name = "point %s disk %s index" % (manifest["id"], disk["key"])
        index = self.load_index("%s/%s" % (self.folder(manifest), disk["index"]), name)
        if not index.fits(self.chunk_size, disk["capacity_bytes"]):
            raise PointDamagedError("%s does not fit its disk: chunk size %d, capacity %d, %d entries (the repository's chunk "
                                    "size is %d, the disk's capacity %d)" % (
                                        name, index.chunk_size, index.capacity, len(index.entries), self.chunk_size,
                                        disk["capacity_bytes"]))
        return index

    # the catalogue ------------------------------------------------------------------------
    def vm_folder(self, vm_key):
        return "vms/%s/points" % vm_key

    # scan records (restore_point_scan): beside the points, never in a point's folder ----------
    def scan_folder(self, manifest):
        return "vms/%s/scans/%s" % (manifest["vm"]["instance_uuid"], manifest["id"])

    def record_scan(self, manifest, record: dict) -> str:
        """Keep a scan's verdict on a point (each scan its own file, written once); its key."""
        now = datetime.datetime.now(datetime.timezone.utc)  # microseconds: the newest sorts last
        key = "%s/%s-%s.json" % (self.scan_folder(manifest), now.strftime("%Y%m%dT%H%M%S%fZ"), secrets.token_hex(3))
        self.write_file(key, json.dumps(record, indent=1).encode())
        return key

    def scanned(self, vm_key) -> set:
        """The ids of the VM's points that have scan records (one listing, not one per point)."""
        return set(self.storage.children("vms/%s/scans" % vm_key))

    def last_scan(self, manifest, scanned: Optional[set] = None) -> Optional[dict]:
        """The newest scan's record of the point, or None when it was never scanned (scanned: the
        VM's scanned() when the caller has it, which saves a listing per point)."""
        if scanned is not None and manifest["id"] not in scanned:
            return None
        names = [n for n in self.storage.children(self.scan_folder(manifest)) if n.endswith(".json")]
        if not names:
            return None
        try:
            return json.loads(self.read_file("%s/%s" % (self.scan_folder(manifest), max(names))).decode("utf-8"))
        except (OSError, ValueError, crypto.TamperedError) as exc:
            raise PointDamagedError("the scan record of point %s cannot be read (%s): scan the point again" % (
                manifest["id"], exc))

    def is_clean(self, manifest, scanned: Optional[set] = None) -> bool:
        """Neither marked suspicious at backup (anomaly) nor found infected by its last scan."""
        if (manifest.get("anomaly") or {}).get("suspicious"):
            return False
        return not (self.last_scan(manifest, scanned) or {}).get("matches")

    def folder(self, manifest):
        return "%s/%s" % (self.vm_folder(manifest["vm"]["instance_uuid"]), manifest["id"])

    def vm_keys(self):
        return self.storage.children("vms")

    def is_protected(self, manifest):
        return self.storage.exists("%s/%s" % (self.folder(manifest), PROTECTED_MARK))

    def list(self, vm_key=None, damaged: Optional[List[dict]] = None):
        """Every visible point's manifest (a point is visible once its manifest exists), oldest first.
        A manifest that cannot be read is POINT_DAMAGED (TAMPERED), unless damaged (a list) is given:
        each such point is then added to it as {vm_key, point, problem, error_code} and left out, so
        that a report or a prune of other VMs goes on."""
        found = []
        for key in [vm_key] if vm_key else self.vm_keys():
            for point in self.storage.children(self.vm_folder(key)):
                if point.startswith("."):
                    continue  # a point being removed by an earlier version (its removal renamed it away)
                path = "%s/%s/manifest.json" % (self.vm_folder(key), point)
                try:
                    found.append(self._read_manifest(path, key, point))
                except FileNotFoundError:
                    continue  # no manifest: an unfinished backup, or a point being removed, not a point
                except (PointDamagedError, crypto.TamperedError) as exc:
                    if damaged is None:
                        raise
                    damaged.append({"vm_key": key, "point": point, "problem": exc.message, "error_code": exc.error_code})
        return sorted(found, key=point_order)

    def _read_manifest(self, path, vm_key, point_id):
        """A manifest that exists must read whole: a damaged newest point must never vanish and let
        an older one stand in for it. It must also be the point whose folder holds it (vms/<vm_key>/
        points/<point_id>/): a manifest copied or moved into another point's or VM's folder would
        otherwise restore that point's data as this one's."""
        try:
            data = self.read_file(path)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise PointDamagedError("the manifest %s cannot be read (%s): the point it describes cannot be used; restore "
                                    "another point by id, or repair or remove that folder" % (self.storage.describe(path), exc))
        try:
            manifest = json.loads(data.decode("utf-8"))
            if not isinstance(manifest, dict) or not all(k in manifest for k in ("id", "time", "vm", "disks")):
                raise ValueError("it lacks id, time, vm or disks")
            if manifest.get("format") != POINT_FORMAT or manifest.get("version") not in READABLE_VERSIONS:
                # a newer writer's point: what it added may change what the bytes mean
                raise ValueError("it is format %r version %r; this collection reads %s versions %s" % (
                    manifest.get("format"), manifest.get("version"), POINT_FORMAT, " and ".join(map(str, READABLE_VERSIONS))))
            vm = manifest["vm"] if isinstance(manifest["vm"], dict) else {}
            if manifest["id"] != point_id or vm.get("instance_uuid") != vm_key:
                raise ValueError("it describes point %s of VM %s, but sits in the folder of point %s of VM %s: a manifest "
                                 "copied or moved from elsewhere" % (manifest["id"], vm.get("instance_uuid"), point_id, vm_key))
            return manifest
        except ValueError as exc:
            raise PointDamagedError("the manifest %s is damaged and cannot be read (%s): the point it describes cannot be "
                                    "used; restore another point by id, or repair or remove that folder" % (
                                        self.storage.describe(path), exc))

    def vm_key(self, wanted, option="source_vm"):
        """The repository key (instance uuid) of the VM wanted names, by its name at backup time or
        its instance uuid; none or several is POINT_NOT_FOUND, naming option and the candidates."""
        damaged = []
        keys = sorted({m["vm"]["instance_uuid"] for m in self.list(damaged=damaged)
                       if wanted in (m["vm"]["name"], m["vm"]["instance_uuid"])})
        if not keys and wanted in (d["vm_key"] for d in damaged):
            keys = [wanted]  # its points are all damaged: find names them
        if not keys and damaged:  # they may be the wanted VM's: damage, never "no such VM"
            error = crypto.TamperedError if damaged[0]["error_code"] == crypto.TamperedError.error_code else PointDamagedError
            raise error("%s %r matches no readable point in %s, and %d point%s cannot be read, whose VM cannot be told: %s" % (
                option, wanted, self.storage.location, len(damaged), "s" if len(damaged) > 1 else "",
                "; ".join(d["problem"] for d in damaged)))
        if len(keys) != 1:
            raise PointNotFoundError("%s %r matches %d VMs in %s (%s)%s" % (
                option, wanted, len(keys), self.storage.location, ", ".join(keys) or "none", ": give the instance uuid" if keys else ""))
        return keys[0]

    def by_id(self, point_id):
        """The manifest of the point point_id, whichever VM's it is (a worker or an export knows
        only the id)."""
        for vm_key in self.vm_keys():
            if self.storage.exists("%s/%s/manifest.json" % (self.vm_folder(vm_key), point_id)):
                for manifest in self.list(vm_key):
                    if manifest["id"] == point_id:
                        return manifest
        raise PointNotFoundError("point %s is no longer in %s" % (point_id, self.storage.location))

    def find(self, vm_key, restore_point="latest"):
        """A point by id, 'latest', 'clean' (the newest neither suspicious nor found infected), or an
        ISO 8601 time (the last point at or before it)."""
        points = self.list(vm_key)
        if not points:
            raise PointNotFoundError("%s has no restore points for VM %s" % (self.storage.location, vm_key))
        if not restore_point or not restore_point.strip():
            # an unset variable must not quietly mean "the newest point"
            raise PointNotFoundError("restore_point is empty: name a point id, an ISO 8601 time, or latest")
        if restore_point in ("latest", "clean"):
            present = [m for m in points if not from_the_future(m)]
            if not present:
                raise PointNotFoundError("VM %s has only points dated in the future (%s), written by a host whose clock "
                                         "is ahead: choose one by id" % (vm_key, ", ".join(m["id"] for m in points)))
            if restore_point == "clean":
                scanned = self.scanned(vm_key)
                present = [m for m in present if self.is_clean(m, scanned)]
                if not present:
                    raise PointNotFoundError("VM %s has no clean point: every one is marked suspicious or was found infected "
                                             "by its last scan (restore_point_info lists them)" % vm_key)
            return present[-1]
        for manifest in points:
            if manifest["id"] == restore_point:
                return manifest
        if re.match(r"^\d{4}-\d{2}-\d{2}", restore_point):
            try:
                wanted = datetime.datetime.fromisoformat(restore_point.replace("Z", "+00:00"))
            except ValueError:
                raise PointNotFoundError("restore_point %r is neither an id, latest, nor an ISO 8601 time" % restore_point)
            if wanted.tzinfo is None:
                wanted = wanted.replace(tzinfo=datetime.timezone.utc)
            earlier = [m for m in points if parse_time(m["time"]) <= wanted]
            if earlier:
                return earlier[-1]
            raise PointNotFoundError("VM %s has no restore point at or before %s (the first is %s)" % (
                vm_key, restore_point, points[0]["time"]))
        raise PointNotFoundError("VM %s has no restore point %r (it has: %s)" % (
            vm_key, restore_point, ", ".join(m["id"] for m in points[-5:])))

    def begin(self, vm_key, point_id=None, lease=None):
        """A writer of a new point of vm_key; lease (locks.Lease): the one the writer holds, checked
        before the manifest is written."""
        point_id = point_id or new_point_id()
        folder = "%s/%s" % (self.vm_folder(vm_key), point_id)
        self.storage.make_folder(folder)
        return PointWriter(self, folder, point_id, lease)


class PointWriter:
    """Writes one point: indexes first, the manifest last (the point exists from then on). Like a
    PBS index writer holding its lock, it commits only while its lease is held: a lease taken for
    stale meanwhile means a garbage collection may have removed chunks the point needs."""

    def __init__(self, catalogue, folder, point_id, lease=None):
        self.catalogue, self.folder, self.id, self.lease = catalogue, folder, point_id, lease

    def write_file(self, name, data, lock=None):
        self.catalogue.write_file("%s/%s" % (self.folder, name), data, lock)
        return name

    def abandon(self):
        """Remove what this unfinished point wrote (it has no manifest, so nothing refers to it),
        and its VM's folder if this was its first point. Chunks stay: other points may share
        them, and the next backup reuses them."""
        storage = self.catalogue.storage
        storage.delete_tree(self.folder)
        folder = self.folder
        for _level in range(2):  # the VM's points folder, then the VM's, when nothing else is there
            folder = folder.rpartition("/")[0]
            if not storage.remove_empty_folder(folder):
                break

    def commit(self, manifest, lock=None):
        if self.lease is not None:
            self.lease.check()
        manifest = dict(manifest, format=POINT_FORMAT, version=FORMAT_VERSION, id=self.id)
        self.catalogue.write_file("%s/manifest.json" % self.folder, json.dumps(manifest, indent=1).encode(), lock)
        return manifest
