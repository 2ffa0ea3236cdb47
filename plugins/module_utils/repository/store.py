# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see docs/restore-point-format.md for the format).
"""The restore point repository, format version 1 (docs/restore-point-format.md): a
content-addressed chunk store, one binary index a disk a point, and a manifest written last.
No Ansible imports.
"""

import contextlib
import datetime
import errno
import functools
import hashlib
import json
import os
import re
import secrets
import struct
import threading

try:
    import zstandard
    HAS_ZSTD = True
except ImportError:
    HAS_ZSTD = False

from ansible_collections.vadp.vsphere.plugins.module_utils.extents import Extent
from ansible_collections.vadp.vsphere.plugins.module_utils import files
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError, VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils.repository import crypto
from ansible_collections.vadp.vsphere.plugins.module_utils.repository.locks import DEFAULT_LEASE_TIMEOUT, Lease

REPOSITORY_FORMAT = "vadp-restore-points"  # repository.json's format, what makes a folder a repository
POINT_FORMAT = "vadp-restore-point"  # a manifest's format
FORMAT_VERSION = 2  # 2: leases, protected points, encryption (docs/restore-point-format.md)
READABLE_VERSIONS = (1, 2)
DEFAULT_CHUNK_SIZE = 4 << 20
MAX_CHUNK_SIZE = 64 << 20  # a chunk is held whole in memory while it is stored or restored
CHUNK_MAGIC, INDEX_MAGIC = b"VADPCHK1", b"VADPIDX1"
CHUNK_HEADER = struct.Struct("<8sB3sI32s")  # magic, compression, reserved (zero), plain length, sha256(payload)
_RESERVED = bytes(3)
INDEX_HEADER = struct.Struct("<8sQQQ")  # magic, chunk size, capacity, entries
ZERO_ENTRY = bytes(32)
PROTECTED_MARK = "protected"  # an empty file in a point folder: prune keeps the point, delete refuses
COMPRESSION_NONE, COMPRESSION_ZSTD = 0, 1


@functools.lru_cache(maxsize=4)
def _zeros(length: int) -> bytes:
    return bytes(length)


_compressors = threading.local()


def _compress(data: bytes) -> bytes:
    """zstd level 3 with this thread's compressor (a compressor serves one thread at a time; making
    one per chunk costs a third of the compression itself)."""
    compressor = getattr(_compressors, "zstd", None)
    if compressor is None:
        compressor = _compressors.zstd = zstandard.ZstdCompressor(level=3)
    return compressor.compress(data)


def all_zeros(data: bytes) -> bool:
    """Whether data is only zero bytes: one memcmp that stops at the first non-zero byte, where strip
    or count would copy or scan the whole chunk."""
    return data == _zeros(len(data))


class RepositoryError(VadpError):
    error_code = "REPOSITORY_ERROR"


class PointNotFoundError(RepositoryError):
    error_code = "POINT_NOT_FOUND"


class ChunkCorruptError(RepositoryError):
    error_code = "CHUNK_CORRUPT"


class PointDamagedError(RepositoryError):
    """A point's manifest exists but cannot be read: the point is damaged, never merely absent."""
    error_code = "POINT_DAMAGED"


class RepositoryFullError(RepositoryError):
    error_code = "REPOSITORY_FULL"


class RepositoryReadOnlyError(RepositoryError):
    error_code = "REPOSITORY_READ_ONLY"


def storage_error(exc, path):
    """The repository's own error for an OSError met while writing path (full, read-only), or None."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return RepositoryFullError("the repository's file system is full (or over its quota) while writing %s: free "
                                   "space there or back up into another repository, then run the backup again" % path)
    if exc.errno == errno.EROFS:
        return RepositoryReadOnlyError("the repository's file system is read-only (writing %s): a backup needs a "
                                       "writable repository" % path)
    return None


def _write_new_file(path, data, mode=0o600):
    """files.write_new_file, with a full or read-only file system named as the repository's."""
    try:
        files.write_new_file(path, data, mode)
    except OSError as exc:
        raise storage_error(exc, path) or exc


def _write_atomically(path, data, mode=0o600):
    try:
        files.write_atomically(path, data, mode)
    except OSError as exc:
        raise storage_error(exc, path) or exc


def _makedirs(path, mode):
    """Create path and any missing parents with mode (os.makedirs gives parents the umask's)."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise storage_error(exc, folder) or exc
        os.chmod(folder, mode)


def parse_time(text):
    """A manifest's time (UTC, ISO 8601 with Z) as an aware datetime."""
    return datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")


# A point dated more than this after the reading host's clock was written by a host whose clock is
# ahead: it never stands in for the newest point unless asked for by id or by a time.
FUTURE_TOLERANCE = datetime.timedelta(minutes=5)


def from_the_future(manifest, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return parse_time(manifest["time"]) > now + FUTURE_TOLERANCE


def _read_manifest(repository, path, vm_key, point_id):
    """A manifest that exists must read whole: a damaged newest point must never vanish and let
    an older one stand in for it. It must also be the point whose folder holds it (vms/<vm_key>/
    points/<point_id>/): a manifest copied or moved into another point's or VM's folder would
    otherwise restore that point's data as this one's."""
    try:
        manifest = json.loads(repository.read_point_file(path).decode("utf-8"))
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
    except (OSError, ValueError) as exc:
        raise PointDamagedError("the manifest %s is damaged and cannot be read (%s): the point it describes cannot be "
                                "used; restore another point by id, or repair or remove that folder" % (path, exc))


# what Repository.create itself leaves in a folder it is creating (a concurrent create's files)
_CREATE_LEFTOVERS = re.compile(r"^(chunks|repository\.json\.tmp\.[0-9a-f]+(\.tmp\.[0-9a-f]+)?)$")


def _refuse_foreign_folder(path):
    """A repository is made only in a new or empty folder: never adopt another tool's data."""
    try:
        entries = [e for e in os.listdir(path) if not _CREATE_LEFTOVERS.match(e)]
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise RepositoryError("%s, or a folder above it, is a file: a repository needs a new or empty folder" % path)
    if entries and not os.path.exists(os.path.join(path, "repository.json")):  # (another backup may just have made it)
        listed = ", ".join(sorted(entries)[:5]) + (" ..." if len(entries) > 5 else "")
        raise RepositoryError("%s is not a restore point repository (no repository.json) and is not empty: it holds %s. "
                              "Give a new or empty folder for a new repository" % (path, listed))


def new_point_id(now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


_POINT_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def is_point_id(text):
    """Whether text is written as new_point_id writes ids (not a selector such as latest or a time)."""
    return bool(_POINT_ID.match(text or ""))


class DiskIndex:
    """The chunk hashes of one disk at one point (None for a zero chunk)."""

    def __init__(self, chunk_size, capacity, entries):
        self.chunk_size, self.capacity, self.entries = chunk_size, capacity, entries

    def to_bytes(self):
        body = INDEX_HEADER.pack(INDEX_MAGIC, self.chunk_size, self.capacity, len(self.entries)) + b"".join(
            ZERO_ENTRY if e is None else bytes.fromhex(e) for e in self.entries)
        return body + hashlib.sha256(body).digest()

    @classmethod
    def from_bytes(cls, data, name="index"):
        if len(data) < INDEX_HEADER.size + 32:
            raise RepositoryError("%s is truncated (%d bytes)" % (name, len(data)))
        magic, chunk_size, capacity, count = INDEX_HEADER.unpack_from(data)
        expected = INDEX_HEADER.size + 32 * count + 32
        if magic != INDEX_MAGIC or len(data) != expected:
            raise RepositoryError("%s is damaged or truncated (%d bytes, %d expected)" % (name, len(data), expected))
        if hashlib.sha256(data[:-32]).digest() != data[-32:]:
            raise RepositoryError("%s fails its checksum" % name)
        entries = []
        for i in range(count):
            raw = data[INDEX_HEADER.size + 32 * i:INDEX_HEADER.size + 32 * (i + 1)]
            entries.append(None if raw == ZERO_ENTRY else raw.hex())
        return cls(chunk_size, capacity, entries)

    def extents(self):
        """The disk's image as Extents whose source is a chunk's name, or None for zeros (runs of
        zero chunks merged)."""
        result = []
        for i, entry in enumerate(self.entries):
            offset = i * self.chunk_size
            length = min(self.chunk_size, self.capacity - offset)
            if entry is None and result and result[-1].source is None:
                result[-1] = result[-1]._replace(length=result[-1].length + length)
            else:
                result.append(Extent(offset, length, entry))
        return result


_KEYS_BY_PATH = {}  # a worker process's keys, given to it by the module (remember_key)


def remember_key(path, master):
    """Every Repository this process opens at path decrypts with master (the worker gets the key
    through its secrets, not a key file)."""
    _KEYS_BY_PATH[os.path.realpath(path)] = crypto.RepositoryKeys(master)


class Repository:
    def __init__(self, path, key_file=None):
        """key_file opens an encrypted repository; it is checked before anything is read."""
        self.path = path
        try:
            with open(os.path.join(path, "repository.json")) as f:
                self.settings = json.load(f)
        except (OSError, ValueError) as exc:
            raise RepositoryError("%s is not a restore point repository (%s)" % (path, exc))
        if self.settings.get("format") != REPOSITORY_FORMAT or self.settings.get("version") not in READABLE_VERSIONS:
            raise RepositoryError("%s has format %r version %r; this collection reads vadp-restore-points versions %s" % (
                path, self.settings.get("format"), self.settings.get("version"), " and ".join(map(str, READABLE_VERSIONS))))
        self.chunk_size = self.settings["chunk_size"]
        self.mode = int(self.settings.get("mode", "0700"), 8)
        self.keys = None
        if "encryption" in self.settings:
            self.keys = _KEYS_BY_PATH.get(os.path.realpath(path)) or crypto.RepositoryKeys.open(
                self.settings["encryption"], key_file, path)
        elif key_file:
            raise InvalidSettingsError("the repository %s is not encrypted, yet a key file was given: leave out "
                                       "encryption_key_file (and VADP_REPOSITORY_KEY_FILE), or use another repository" % path)

    @property
    def encrypted(self):
        return self.keys is not None

    def secrets(self):
        """What a worker process needs to open this repository (remember_key)."""
        return {"repository_key": self.keys.master.hex()} if self.keys else {}

    @classmethod
    def create(cls, path, chunk_size=DEFAULT_CHUNK_SIZE, mode="0700", dry_run=False, key_file=None):
        """Open the repository at path, creating it when the folder has none (encrypted with
        key_file when given). With dry_run nothing is written: the checks run and None stands for
        the repository to be created."""
        if not os.path.exists(os.path.join(path, "repository.json")):
            _refuse_foreign_folder(path)
            if chunk_size < 65536 or chunk_size > MAX_CHUNK_SIZE or chunk_size & (chunk_size - 1):
                raise RepositoryError("chunk_size must be a power of two from 64 KiB to 64 MiB, not %d" % chunk_size)
            encryption = crypto.new_settings(key_file) if key_file else None  # a bad key file fails before any write
            if dry_run:
                return None
            _makedirs(os.path.join(path, "chunks"), int(mode, 8))
            try:
                os.chmod(path, int(mode, 8))
            except OSError as exc:
                raise storage_error(exc, path) or RepositoryError("%s: %s" % (path, exc))
            settings = {"format": REPOSITORY_FORMAT, "version": FORMAT_VERSION, "chunk_size": chunk_size,
                        "hash": "sha256", "compression": "zstd" if HAS_ZSTD else "none",
                        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "mode": mode}
            if encryption:
                settings["encryption"] = encryption
            # written whole beside it, then linked into place: a second backup starting at the same
            # moment finds either no file or a complete one, never a half-written one
            temporary = os.path.join(path, "repository.json.tmp.%s" % secrets.token_hex(6))
            _write_new_file(temporary, json.dumps(settings, indent=2).encode())
            try:
                os.link(temporary, os.path.join(path, "repository.json"))
            except FileExistsError:
                pass  # another backup created it first
            finally:
                os.remove(temporary)
        return cls(path, key_file)

    def check_writable(self):
        """Fail before a backup touches the VM when nothing can be written here."""
        probe = os.path.join(self.path, "write-probe.tmp.%s" % secrets.token_hex(6))
        _write_new_file(probe, b"")
        os.unlink(probe)

    # chunks -------------------------------------------------------------------------------
    def chunk_path(self, digest):
        return os.path.join(self.path, "chunks", digest[:2], digest[2:4], digest)

    def has_chunk(self, digest):
        return os.path.exists(self.chunk_path(digest))

    def chunk_name(self, data):
        """SHA-256 of the data, or in an encrypted repository its HMAC: the name says nothing of the content."""
        return self.keys.chunk_name(data) if self.keys else hashlib.sha256(data).hexdigest()

    def put_chunk(self, data):
        """Store plain data (unless it is all zeros or already stored): (name or None, stored bytes)."""
        if all_zeros(data):
            return None, 0
        digest = self.chunk_name(data)
        path = self.chunk_path(digest)
        if os.path.exists(path):
            return digest, 0
        payload, compression = data, COMPRESSION_NONE
        if HAS_ZSTD:
            packed = _compress(data)
            if len(packed) < len(data):  # incompressible data (random, already compressed) is stored as it is
                payload, compression = packed, COMPRESSION_ZSTD
        if self.keys:
            payload = self.keys.seal_chunk(digest, payload)
        # a plain chunk stored raw: its payload's SHA-256 is its name, already computed
        checksum = bytes.fromhex(digest) if payload is data else hashlib.sha256(payload).digest()
        stored = CHUNK_HEADER.pack(CHUNK_MAGIC, compression, _RESERVED, len(data), checksum) + payload
        folder = os.path.dirname(path)
        _makedirs(folder, self.mode)
        temporary = "%s.tmp.%s" % (path, secrets.token_hex(6))
        _write_new_file(temporary, stored)
        try:
            os.link(temporary, path)  # write-once: never replaces a chunk another writer stored
        except FileExistsError:
            return digest, 0
        finally:
            os.unlink(temporary)
        return digest, len(stored)

    def get_chunk(self, digest, where="", rehash=True):
        """The plain data of a chunk (bytes, or a read-only view of them), checked against its stored
        checksum and (rehash) its name."""
        try:
            with open(self.chunk_path(digest), "rb") as f:
                stored = f.read()
        except OSError:
            raise ChunkCorruptError("chunk %s is missing%s" % (digest, where))
        if len(stored) < CHUNK_HEADER.size:
            raise ChunkCorruptError("chunk %s is truncated%s" % (digest, where))
        magic, compression, reserved, length, checksum = CHUNK_HEADER.unpack_from(stored)
        payload = memoryview(stored)[CHUNK_HEADER.size:]  # no copy of the chunk
        actual = hashlib.sha256(payload).digest()
        if magic != CHUNK_MAGIC or actual != checksum:
            raise ChunkCorruptError("chunk %s is damaged (stored checksum)%s" % (digest, where))
        # the checksum covers the payload only: every header field is checked for what it can be
        if compression not in (COMPRESSION_NONE, COMPRESSION_ZSTD) or reserved != _RESERVED:
            raise ChunkCorruptError("chunk %s is damaged (its header: compression %d, reserved %s)%s" % (
                digest, compression, reserved.hex(), where))
        if self.keys:
            try:
                payload = self.keys.open_chunk(digest, payload)
            except crypto.TamperedError as exc:
                raise ChunkCorruptError(exc.message + where)
            # authenticated under its name: only a key holder, who names a chunk by its keyed hash, wrote it
            rehash = False
        if compression == COMPRESSION_ZSTD:
            if not HAS_ZSTD:
                raise RepositoryError("chunk %s is zstd-compressed: install the zstandard Python package" % digest)
            try:
                data = zstandard.ZstdDecompressor().decompress(payload, max_output_size=length)
            except zstandard.ZstdError as exc:  # a header saying zstd over what is not, or a wrong length
                raise ChunkCorruptError("chunk %s is damaged (it does not decompress: %s)%s" % (digest, exc, where))
        else:
            data = payload  # a view of what was read: no second copy of the chunk
            if rehash and not self.keys:  # a plain chunk stored raw: the hash just checked is its name's
                if actual.hex() != digest:
                    raise ChunkCorruptError("chunk %s does not match its hash%s" % (digest, where))
                rehash = False
        if len(data) != length or (rehash and self.chunk_name(data) != digest):
            raise ChunkCorruptError("chunk %s does not match its hash%s" % (digest, where))
        return data

    # points -------------------------------------------------------------------------------
    def vm_folder(self, vm_key):
        return os.path.join(self.path, "vms", vm_key, "points")

    def manifests(self, vm_key=None, damaged=None):
        """Every visible point (one with a manifest), oldest first. A manifest that cannot be read
        is POINT_DAMAGED, unless damaged (a list) is given: each such point is then added to it as
        {vm_key, point, problem} and left out, so that a report or a prune of other VMs goes on."""
        found = []
        vms = [vm_key] if vm_key else sorted(os.listdir(os.path.join(self.path, "vms"))) if os.path.isdir(
            os.path.join(self.path, "vms")) else []
        for key in vms:
            folder = self.vm_folder(key)
            for point in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                if point.startswith("."):
                    continue  # a point being removed (garbage.remove_point)
                path = os.path.join(folder, point, "manifest.json")
                if not os.path.exists(path):
                    continue  # no manifest: an unfinished backup, not a point
                try:
                    found.append(_read_manifest(self, path, key, point))
                except (PointDamagedError, crypto.TamperedError) as exc:
                    if damaged is None:
                        raise
                    damaged.append({"vm_key": key, "point": point, "problem": exc.message, "error_code": exc.error_code})
        return sorted(found, key=lambda m: (m["time"], m["id"]))

    def vm_key(self, wanted, option="source_vm"):
        """The repository key (instance uuid) of the VM wanted names, by its name at backup time or
        its instance uuid; none or several is POINT_NOT_FOUND, naming option and the candidates."""
        damaged = []
        keys = sorted({m["vm"]["instance_uuid"] for m in self.manifests(damaged=damaged)
                       if wanted in (m["vm"]["name"], m["vm"]["instance_uuid"])})
        if not keys and wanted in (d["vm_key"] for d in damaged):
            keys = [wanted]  # its points are all damaged: find_point names them
        if not keys and damaged:  # they may be the wanted VM's: damage, never "no such VM"
            error = crypto.TamperedError if damaged[0]["error_code"] == crypto.TamperedError.error_code else PointDamagedError
            raise error("%s %r matches no readable point in %s, and %d point%s cannot be read, whose VM cannot be told: %s" % (
                option, wanted, self.path, len(damaged), "s" if len(damaged) > 1 else "",
                "; ".join(d["problem"] for d in damaged)))
        if len(keys) != 1:
            raise PointNotFoundError("%s %r matches %d VMs in %s (%s)%s" % (
                option, wanted, len(keys), self.path, ", ".join(keys) or "none", ": give the instance uuid" if keys else ""))
        return keys[0]

    def find_point(self, vm_key, restore_point="latest"):
        """A point by id, 'latest', or an ISO 8601 time (the last point at or before it)."""
        points = self.manifests(vm_key)
        if not points:
            raise PointNotFoundError("%s has no restore points for VM %s" % (self.path, vm_key))
        if not restore_point or not restore_point.strip():
            # an unset variable must not quietly mean "the newest point"
            raise PointNotFoundError("restore_point is empty: name a point id, an ISO 8601 time, or latest")
        if restore_point == "latest":
            present = [m for m in points if not from_the_future(m)]
            if not present:
                raise PointNotFoundError("VM %s has only points dated in the future (%s), written by a host whose clock "
                                         "is ahead: choose one by id" % (vm_key, ", ".join(m["id"] for m in points)))
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

    def point_folder(self, manifest):
        return os.path.join(self.vm_folder(manifest["vm"]["instance_uuid"]), manifest["id"])

    def is_protected(self, manifest):
        return os.path.exists(os.path.join(self.point_folder(manifest), PROTECTED_MARK))

    @contextlib.contextmanager
    def lease(self, kind, operation, timeout=DEFAULT_LEASE_TIMEOUT, on_wait=lambda holders: None):
        """A shared (backup, restore) or exclusive (prune, garbage collection) lease on the whole
        repository, held for the `with` block; see locks.py."""
        lease = Lease(os.path.join(self.path, "locks"), kind, operation, timeout, on_wait)
        try:
            lease.acquire()
        except OSError as exc:
            raise storage_error(exc, lease.folder) or RepositoryError("the lease in %s cannot be written: %s" % (lease.folder, exc))
        try:
            yield lease
        finally:
            lease.release()

    def read_point_file(self, path):
        """A manifest, index or NVRAM file, decrypted and authenticated in an encrypted repository."""
        with open(path, "rb") as f:
            data = f.read()
        return self.keys.open_file(os.path.relpath(path, self.path), data) if self.keys else data

    def write_point_file(self, path, data):
        _write_atomically(path, self.keys.seal_file(os.path.relpath(path, self.path), data) if self.keys else data)

    def load_index(self, path, name="index"):
        try:
            return DiskIndex.from_bytes(self.read_point_file(path), name)
        except OSError as exc:
            raise RepositoryError("%s cannot be read: %s" % (name, exc))

    def write_index(self, path, index):
        self.write_point_file(path, index.to_bytes())

    def read_index(self, manifest, disk):
        name = "point %s disk %s index" % (manifest["id"], disk["key"])
        index = self.load_index(os.path.join(self.point_folder(manifest), disk["index"]), name)
        # a plain index's checksum can be recomputed by anyone: its header must also fit its repository and disk
        if (index.chunk_size != self.chunk_size or index.capacity != disk["capacity_bytes"]
                or len(index.entries) != -(-index.capacity // index.chunk_size)):
            raise PointDamagedError("%s does not fit its disk: chunk size %d, capacity %d, %d entries (the repository's chunk "
                                    "size is %d, the disk's capacity %d)" % (
                                        name, index.chunk_size, index.capacity, len(index.entries), self.chunk_size,
                                        disk["capacity_bytes"]))
        return index

    def begin_point(self, vm_key, point_id=None):
        point_id = point_id or new_point_id()
        folder = os.path.join(self.vm_folder(vm_key), point_id)
        _makedirs(folder, self.mode)
        return PointWriter(self, folder, point_id)

    # verification -------------------------------------------------------------------------
    def verify(self, manifest, deep=False):
        """Problems of one point: [{point, disk, offset, problem}] (empty when it is sound)."""
        problems = []
        for disk in manifest["disks"]:
            try:
                index = self.read_index(manifest, disk)
            except (RepositoryError, crypto.TamperedError) as exc:
                problems.append({"point": manifest["id"], "disk": disk["key"], "offset": None, "problem": str(exc)})
                continue
            for i, entry in enumerate(index.entries):
                if entry is None:
                    continue
                where = " (point %s, disk %s, offset %d)" % (manifest["id"], disk["key"], i * index.chunk_size)
                try:
                    if deep:
                        self.get_chunk(entry, where)
                    elif not self.has_chunk(entry):
                        raise ChunkCorruptError("chunk %s is missing%s" % (entry, where))
                except RepositoryError as exc:
                    problems.append({"point": manifest["id"], "disk": disk["key"], "offset": i * index.chunk_size,
                                     "problem": str(exc)})
        return problems


class PointWriter:
    """Writes one point: indexes first, the manifest last (the point exists from then on)."""

    def __init__(self, repository, folder, point_id):
        self.repository, self.folder, self.id = repository, folder, point_id

    def write_file(self, name, data):
        self.repository.write_point_file(os.path.join(self.folder, name), data)
        return name

    def abandon(self):
        """Remove what this unfinished point wrote (it has no manifest, so nothing refers to it),
        and its VM's folder if this was its first point. Chunks stay: other points may share
        them, and the next backup reuses them."""
        for name in os.listdir(self.folder) if os.path.isdir(self.folder) else []:
            os.unlink(os.path.join(self.folder, name))
        for folder in (self.folder, os.path.dirname(self.folder), os.path.dirname(os.path.dirname(self.folder))):
            try:
                os.rmdir(folder)
            except OSError:
                break  # not empty: another point lives there

    def commit(self, manifest):
        manifest = dict(manifest, format=POINT_FORMAT, version=FORMAT_VERSION, id=self.id)
        self.repository.write_point_file(os.path.join(self.folder, "manifest.json"), json.dumps(manifest, indent=1).encode())
        return manifest
