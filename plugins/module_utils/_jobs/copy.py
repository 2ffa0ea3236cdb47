# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy restore points to a second repository (a folder or a bucket, either side), as PBS's sync
jobs do: per point, the chunks the target lacks (each checked before it leaves, and on arrival:
by a bucket against the checksum sent with it, in a folder read back), then its indexes and NVRAM, its manifest last - so a copy killed at any
moment leaves no point in the target that is not whole, and the next run goes on where it
stopped. Objects are copied as they are stored, so an encrypted point stays encrypted (the target
is the same repository, with the same settings and key); without the key (a sealed copy) the copy
cannot read which chunks a point needs, and sends every chunk the target lacks. A point locked
in the source is locked alike in the target where the target can lock. No Ansible imports.
"""

from __future__ import annotations

import dataclasses
import datetime
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository import garbage
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.crypto import KeyRequiredError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import (
    ChunkCorruptError,
    ImmutabilityUnavailableError,
    PointNotFoundError,
    RepositoryError,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.immutability import (
    RetentionLock,
    objects_locked_until,
    point_locked_until,
    stamp,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import (
    DEFAULT_LEASE_TIMEOUT,
    EXCLUSIVE,
    SHARED,
    announce_waits,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.points import PROTECTED_MARK, is_point_id, point_order
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import open_storage
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import SETTINGS, Repository, refuse_foreign_folder


class RepositoryMismatchError(RepositoryError):
    """The target is another repository (chunk size, encryption): its chunks would not be these."""
    error_code = "REPOSITORY_MISMATCH"


@dataclasses.dataclass(frozen=True)
class CopyOptions:
    repository: str  # the source
    target: str
    vm: Optional[str] = None  # one VM (name or instance uuid), else every VM
    transfer_last: int = 0  # only the newest N points of each VM (0: all)
    resync_corrupt: bool = False  # check the target's copies of the chunks a point needs; re-send the damaged ones
    remove_vanished: bool = False  # remove target points gone from the source (never a protected or locked one)
    lock_timeout: int = DEFAULT_LEASE_TIMEOUT
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None  # the source's object storage (s3.OPTIONS)
    target_s3: Optional[dict] = None  # the target's; the source's when not given


def _same_repository(source: Repository, target: Repository) -> None:
    """Chunks and point files are copied as stored: the target must name and seal them alike."""
    mine, theirs = source.settings, target.settings
    for field, what in (("chunk_size", "chunk size"), ("encryption", "encryption (its salt and key check)")):
        if mine.get(field) != theirs.get(field):
            raise RepositoryMismatchError(
                "%s is another repository than %s: its %s differs, so the copied chunks and point files would not be "
                "its own. Copy into a new folder or prefix (it becomes a copy of the source's settings), or into an "
                "earlier copy of this repository" % (target.location, source.location, what))


class CopyJob:
    """warn receives what a caller should show (Ansible: module.warn)."""

    def __init__(self, options: CopyOptions, warn: Callable[[str], None] = lambda message: None):
        self.options, self.warn = options, warn
        self._target_locks = None  # whether the target can lock objects: learnt with the first locked point

    def run(self, check_mode: bool = False) -> dict:
        o = self.options
        if o.transfer_last < 0:
            raise InvalidSettingsError("transfer_last must be 0 (every point) or more, not %d" % o.transfer_last)
        if o.target.rstrip("/") == o.repository.rstrip("/"):
            raise InvalidSettingsError("target is the source repository itself (%s)" % o.target)
        source = Repository(o.repository, o.encryption_key_file, o.s3, sealed=True)
        if source.sealed:
            for option in ("resync_corrupt", "remove_vanished"):
                if getattr(o, option):
                    raise KeyRequiredError("%s reads the points' encrypted manifests and indexes: give the key of %s "
                                           "(encryption_key_file), or leave it out" % (option, o.repository))
        target = self._target(source, dry_run=check_mode)
        if check_mode:
            return self._copy(source, target, dry_run=True)
        kind = EXCLUSIVE if o.remove_vanished else SHARED  # removing points takes the target whole, as a prune does
        with target.lease(kind, "copy from %s" % source.location, timeout=o.lock_timeout, on_wait=announce_waits(self.warn)):
            with source.lease(SHARED, "copy to %s" % target.location, timeout=o.lock_timeout,
                              on_wait=announce_waits(self.warn)):
                return self._copy(source, target, dry_run=False)

    def _target(self, source: Repository, dry_run: bool) -> Optional[Repository]:
        """The target repository, made a copy of the source's settings when it has none (None in check mode)."""
        o = self.options
        s3 = o.target_s3 if o.target_s3 is not None else o.s3
        storage = open_storage(o.target, s3, source.storage.mode)
        if not storage.exists(SETTINGS):
            if dry_run:
                return None
            refuse_foreign_folder(storage)
            storage.make_folder("chunks")
            storage.create(SETTINGS, source.storage.read(SETTINGS))  # the same settings: the same key, chunk names, seals
        target = Repository(o.target, o.encryption_key_file if source.encrypted else None, s3, sealed=source.sealed)
        _same_repository(source, target)
        return target

    def _selected(self, source: Repository, damaged: List[dict]) -> List[dict]:
        o = self.options
        points = source.points.list(source.points.vm_key(o.vm, option="vm") if o.vm else None, damaged=damaged)
        if not o.transfer_last:
            return points
        by_vm = {}
        for manifest in points:
            by_vm.setdefault(manifest["vm"]["instance_uuid"], []).append(manifest)
        return sorted((m for ms in by_vm.values() for m in ms[-o.transfer_last:]), key=point_order)

    def _copy(self, source: Repository, target: Optional[Repository], dry_run: bool) -> dict:
        result = {"changed": False, "points_copied": [], "points_present": [], "points_removed": [], "chunks_sent": 0,
                  "bytes_sent": 0, "chunks_resent": 0, "damaged_points": [], "sealed": source.sealed}
        if source.sealed:
            self._copy_sealed(source, target, dry_run, result)
            result["changed"] = bool(result["points_copied"] or result["chunks_sent"])
            return result
        damaged = result["damaged_points"]
        selected = self._selected(source, damaged)
        present = {m["id"] for m in target.points.list(damaged=[])} if target else set()
        if damaged:
            self.warn("%d point%s of the source cannot be read and %s not copied: %s" % (
                len(damaged), "s" if len(damaged) > 1 else "", "were" if len(damaged) > 1 else "was",
                "; ".join(d["problem"] for d in damaged)))
        for manifest in selected:
            summary = {"id": manifest["id"], "vm": manifest["vm"]["name"], "time": manifest["time"]}
            if manifest["id"] in present:
                result["points_present"].append(summary)
                if self.options.resync_corrupt and not dry_run:
                    result["chunks_resent"] += self._resync(source, target, manifest)
                continue
            result["points_copied"].append(summary)
            if not dry_run:
                self._copy_point(source, target, manifest, result)
        if self.options.remove_vanished:
            result["points_removed"] = self._remove_vanished(source, target, selected, damaged, dry_run)
        result["changed"] = bool(result["points_copied"] or result["points_removed"] or result["chunks_resent"])
        return result

    def _copy_point(self, source: Repository, target: Repository, manifest: dict, result: dict) -> None:
        folder = source.points.folder(manifest)
        lock = self._lock(manifest, target)
        where = " (point %s of %s, being copied)" % (manifest["id"], manifest["vm"]["name"])
        needed = _chunks_of(source, manifest)
        missing = target.chunks.missing(needed)
        self._send_chunks(source, target, missing, where, lock, result)
        target.storage.sync()  # the chunks are durable before the point files that name them
        if lock:
            target.chunks.extend(needed.difference(missing), lock)
            target.lock_settings(lock)
        files = [disk["index"] for disk in manifest["disks"]] + ([manifest["nvram"]] if manifest.get("nvram") else [])
        for name in files + ["manifest.json"]:  # the manifest last: until it is there, the copy is no point
            _copy_object(source, target, "%s/%s" % (folder, name), lock.until if lock else None)

    def _lock(self, manifest: dict, target: Repository) -> Optional[RetentionLock]:
        """The lock the point's copy gets: the source's (None when it has ended, or the target cannot lock)."""
        until = point_locked_until(manifest)
        if until is None or until <= datetime.datetime.now(datetime.timezone.utc):
            return None
        if self._target_locks is None:
            try:
                target.storage.check_object_lock()
                self._target_locks = True
            except ImmutabilityUnavailableError as exc:
                self._target_locks = False
                self.warn("immutable points are copied without their lock: %s" % exc.message)
        return RetentionLock(until, max(until, objects_locked_until(manifest) or until)) if self._target_locks else None

    def _send_chunks(self, source: Repository, target: Repository, names: List[str], where: str, lock, result: dict) -> None:
        """Send the chunks, as many at once as the slower storage takes (a bucket's round trips overlap)."""
        at_once = max(source.storage.concurrency, target.storage.concurrency)
        with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="copy-send") as pool:
            for sent in pool.map(lambda name: self._send_chunk(source, target, name, where, lock), names):
                result["bytes_sent"] += sent
                result["chunks_sent"] += 1

    def _send_chunk(self, source: Repository, target: Repository, name: str, where: str, lock=None,
                    replace: bool = False) -> int:
        key = source.chunks.key(name)
        stored = source.storage.read(key)
        source.chunks.check_stored(name, stored, where)  # a damaged source chunk is never sent on as good
        if replace:
            target.storage.delete(key)
        target.storage.create(key, stored, durable=target.storage.durable_chunks, retain_until=lock.target if lock else None)
        # checked on arrival: by a bucket against the checksum sent with it (S3Storage.create), a folder's read back
        if not target.storage.remote:
            arrived = " (in the target%s)" % where
            if source.sealed:
                target.chunks.check_stored(name, target.storage.read(key), arrived)
            else:
                target.chunks.get(name, arrived)
        return len(stored)

    def _copy_sealed(self, source: Repository, target: Optional[Repository], dry_run: bool, result: dict) -> None:
        """Copy points without the key: chosen by their folders (a VM by its instance uuid, the newest
        by their ids, which begin with their time), every chunk the target lacks, then each point's
        files as stored, its manifest last."""
        for vm_key, point_id in self._sealed_points(source):
            folder = "%s/%s" % (source.points.vm_folder(vm_key), point_id)
            summary = {"id": point_id, "vm": vm_key, "time": "%s-%s-%sT%s:%s:%sZ" % (
                point_id[:4], point_id[4:6], point_id[6:8], point_id[9:11], point_id[11:13], point_id[13:15])}
            if target and target.storage.exists(folder + "/manifest.json"):
                result["points_present"].append(summary)
                continue
            result["points_copied"].append(summary)
        if dry_run or not result["points_copied"]:
            return
        # listed after the points: every chunk a listed point needs was stored before its manifest
        stored = [name for name, _stored in source.chunks.stored() if garbage.is_chunk_name(name)]
        self._send_chunks(source, target, target.chunks.missing(stored), " (being copied without the key)", None, result)
        target.storage.sync()
        for point in result["points_copied"]:
            folder = "%s/%s" % (source.points.vm_folder(point["vm"]), point["id"])
            names = [n for n in source.storage.children(folder) if n not in (PROTECTED_MARK, "manifest.json")]
            for name in names + ["manifest.json"]:
                _copy_object(source, target, "%s/%s" % (folder, name))
            if source.storage.retained_until(folder + "/manifest.json"):
                self.warn("point %s of %s is locked in the source; its copy is not: a copy without the key cannot read "
                          "the lock's dates" % (point["id"], point["vm"]))

    def _sealed_points(self, source: Repository) -> List[tuple]:
        """(VM folder key, point id) of the points to copy, oldest first within each VM."""
        o, vms = self.options, source.points.vm_keys()
        if o.vm and o.vm not in vms:
            raise PointNotFoundError("%s has no VM whose instance uuid is %s: without the key, vm must be the VM's "
                                     "instance uuid (its name is inside its encrypted points)" % (o.repository, o.vm))
        chosen = []
        for vm_key in [o.vm] if o.vm else vms:
            folder = source.points.vm_folder(vm_key)
            ids = [p for p in source.storage.children(folder) if is_point_id(p)
                   and source.storage.exists("%s/%s/manifest.json" % (folder, p))]
            chosen += [(vm_key, p) for p in (ids[-o.transfer_last:] if o.transfer_last else ids)]
        return chosen

    def _resync(self, source: Repository, target: Repository, manifest: dict) -> int:
        """Check every chunk the target's copy of the point needs; re-send the missing or damaged ones."""
        resent = 0
        for name in sorted(_chunks_of(source, manifest)):
            try:
                target.chunks.get(name)
            except ChunkCorruptError:
                self._send_chunk(source, target, name, " (point %s of %s, being copied)" % (
                    manifest["id"], manifest["vm"]["name"]), replace=True)
                resent += 1
        return resent

    def _remove_vanished(self, source: Repository, target: Optional[Repository], selected: List[dict],
                         damaged: List[dict], dry_run: bool) -> List[dict]:
        """Target points of the copied VMs that the source no longer has; never a protected or locked one."""
        if target is None:
            return []
        known = {m["id"] for m in source.points.list(damaged=[])} | {d["point"] for d in damaged}
        vms = {m["vm"]["instance_uuid"] for m in selected}
        removed, now = [], datetime.datetime.now(datetime.timezone.utc)
        for manifest in target.points.list(damaged=[]):
            if manifest["vm"]["instance_uuid"] not in vms or manifest["id"] in known:
                continue
            locked = point_locked_until(manifest)
            if target.points.is_protected(manifest) or (locked and locked > now):
                self.warn("point %s of %s is gone from the source but kept in the target: it is %s" % (
                    manifest["id"], manifest["vm"]["name"],
                    "protected" if target.points.is_protected(manifest) else "immutable until %s" % stamp(locked)))
                continue
            removed.append({"id": manifest["id"], "vm": manifest["vm"]["name"], "time": manifest["time"]})
            if not dry_run:
                garbage.remove_point(target, manifest)
        return removed


def _chunks_of(repository: Repository, manifest: dict) -> set:
    """The names of the chunks the point's indexes name."""
    return {digest.hex() for digest in garbage.referenced_chunks(repository, [manifest])}


def _copy_object(source: Repository, target: Repository, key: str, retain_until=None) -> None:
    """A point file, copied as stored; one the target holds already must be the same bytes."""
    data = source.storage.read(key)
    if not target.storage.create(key, data, retain_until=retain_until) and target.storage.read(key) != data:
        raise RepositoryMismatchError("%s holds another file than %s: the target is not a copy of this repository, or "
                                      "was changed by hand" % (target.storage.describe(key), source.storage.describe(key)))
