# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transfer protocol between the planning side and the VDDK worker.

A plan moves data in one direction: ``write`` (a restore: from a source onto disks) or ``read``
(a backup: from disks into the repository); ``access`` plans only call PrepareForAccess or
EndAccess. Each disk plan names its source kind and lists typed extents. The objects check
themselves when they are built, and the worker builds them again from the JSON it is given, so
a plan with an unknown kind, a missing field or an extent off the sector grid is refused with
PLAN_INVALID on both sides of the process boundary, before any disk is opened.
docs/data-mover.md describes the JSON. No Ansible imports.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils.extents import SECTOR

PLAN_VERSION = 3  # 3: a restore plan's extents name ranges of the point, not chunks
DIRECTIONS = ("write", "read", "access")
DEFAULT_PARALLEL_DISKS = 2  # disks a worker moves at once


class PlanInvalidError(VadpError):
    error_code = "PLAN_INVALID"


def _require(condition: bool, where: str, problem: str) -> None:
    if not condition:
        raise PlanInvalidError("transfer plan, %s: %s" % (where, problem))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_range(offset: Any, length: Any, where: str) -> None:
    _require(_is_int(offset) and _is_int(length), where, "offset and length must be integers")
    _require(offset >= 0 and length > 0, where, "offset %r, length %r: a range needs offset >= 0 and length > 0"
             % (offset, length))
    _require(offset % SECTOR == 0 and length % SECTOR == 0, where,
             "offset %d, length %d: not on 512-byte sectors (VDDK moves whole sectors)" % (offset, length))


# Extents: what one byte range of a disk receives. On the wire a tagged list, compact for
# disks with hundreds of thousands of extents.

@dataclass(frozen=True)
class PointExtent:
    """The range gets the point's bytes there: the worker finds each chunk in the point's index
    (an extent covers many chunks, so a plan's size follows the disk's runs of data, not its size)."""
    offset: int
    length: int

    def to_json(self) -> list:
        return ["point", self.offset, self.length]


@dataclass(frozen=True)
class FileExtent:
    """The range gets bytes of a source file, from file_offset on."""
    offset: int
    length: int
    file: int
    file_offset: int

    def to_json(self) -> list:
        return ["file", self.offset, self.length, self.file, self.file_offset]


@dataclass(frozen=True)
class ZeroExtent:
    """The range gets zeros."""
    offset: int
    length: int

    def to_json(self) -> list:
        return ["zeros", self.offset, self.length]


Extent = Union[PointExtent, FileExtent, ZeroExtent]
_EXTENT_KINDS = {"point": (PointExtent, 2), "file": (FileExtent, 4), "zeros": (ZeroExtent, 2)}


def extent_from_json(value: Any, where: str) -> Extent:
    _require(isinstance(value, list) and value, where, "an extent is a list [kind, offset, length, ...]")
    kind = value[0]
    _require(kind in _EXTENT_KINDS, where, "unknown extent kind %r (known: %s)" % (kind, ", ".join(_EXTENT_KINDS)))
    cls, count = _EXTENT_KINDS[kind]
    _require(len(value) == count + 1, where, "a %s extent has %d values after its kind, not %d" % (kind, count, len(value) - 1))
    extent = cls(*value[1:])
    _check_extent(extent, where)
    return extent


def _check_extent(extent: Extent, where: str) -> None:
    _check_range(extent.offset, extent.length, where)
    if isinstance(extent, FileExtent):
        _require(_is_int(extent.file) and _is_int(extent.file_offset) and extent.file >= 0 and extent.file_offset >= 0,
                 where, "a file extent names a file number and an offset in it")


# Sources of a write plan

@dataclass(frozen=True)
class RepositorySource:
    """One disk of a restore point (its index names the chunks); verify re-hashes each chunk as it is read."""
    path: str
    point_id: str
    disk: Union[int, str]
    verify: bool = True
    kind: str = field(default="repository", init=False)
    extent_types = (PointExtent, ZeroExtent)


@dataclass(frozen=True)
class FilesSource:
    """Files (a raw image, or the files of a merged chain); FileExtent.file indexes paths. With
    skip_zero_pieces an all-zero piece is not written (a fresh disk stays thin)."""
    paths: List[str]
    skip_zero_pieces: bool = False
    kind: str = field(default="files", init=False)
    extent_types = (FileExtent, ZeroExtent)


Source = Union[RepositorySource, FilesSource]
_SOURCE_KINDS = {"repository": RepositorySource, "files": FilesSource}


@dataclass
class WriteDiskPlan:
    """A restore of one disk: extents in disk order, none overlapping; metadata (VDDK's) first."""
    id: str
    path: str
    source: Source
    extents: List[Extent]
    zeros_where_allocated: bool = False
    metadata: Dict[str, str] = field(default_factory=dict)
    verify_after_write: bool = False

    def __post_init__(self) -> None:
        where = "disk %s" % self.id
        _require(isinstance(self.path, str) and self.path, where, "path names the disk file to open")
        _require(isinstance(self.source, (RepositorySource, FilesSource)), where, "unknown source %r" % (self.source,))
        end = 0
        for number, extent in enumerate(self.extents):
            at = "%s, extent %d" % (where, number)
            _require(isinstance(extent, self.source.extent_types), at, "a %s extent cannot come from a %s source" % (
                type(extent).__name__, self.source.kind))
            _check_extent(extent, at)
            _require(extent.offset >= end, at, "starts at %d, inside or before the extent before it (ends at %d): "
                     "extents are in disk order and do not overlap" % (extent.offset, end))
            end = extent.offset + extent.length
            if isinstance(extent, FileExtent):
                _require(extent.file < len(self.source.paths), at, "file number %d, the source has %d file(s)"
                         % (extent.file, len(self.source.paths)))

    def bytes_total(self) -> int:
        return sum(e.length for e in self.extents)

    def to_json(self) -> dict:
        return {"id": self.id, "path": self.path, "source": dataclasses.asdict(self.source),
                "extents": [e.to_json() for e in self.extents], "zeros_where_allocated": self.zeros_where_allocated,
                "metadata": self.metadata, "verify_after_write": self.verify_after_write}

    @classmethod
    def from_json(cls, value: Any) -> "WriteDiskPlan":
        where = "disk %s" % (value.get("id") if isinstance(value, dict) else "?")
        fields_ = _fields(cls, value, where)
        source = fields_["source"]
        _require(isinstance(source, dict) and source.get("kind") in _SOURCE_KINDS, where,
                 "unknown source kind %r (known: %s)" % (source.get("kind") if isinstance(source, dict) else source,
                                                         ", ".join(_SOURCE_KINDS)))
        source_type = _SOURCE_KINDS[source["kind"]]
        fields_["source"] = source_type(**{k: v for k, v in _fields(source_type, source, where + ", source").items() if k != "kind"})
        _require(isinstance(fields_["extents"], list), where, "extents is a list")
        fields_["extents"] = [extent_from_json(e, "%s, extent %d" % (where, i)) for i, e in enumerate(fields_["extents"])]
        return cls(**fields_)


@dataclass
class ReadDiskPlan:
    """A backup of one disk: the chunks to read (numbers, ascending) into the repository, the
    rest of the index taken from the parent point's (an incremental) or zeros (a full)."""
    id: str
    path: str
    capacity: int
    chunk_size: int
    chunks: List[int]
    repository: str
    index_out: str
    parent_index: Optional[str] = None
    # an immutable point's lock (immutability.RetentionLock.to_json); lock_carried: the chunks taken
    # over from the parent point are locked too (the parent's locks end before this point's)
    lock: Optional[dict] = None
    lock_carried: bool = False

    def __post_init__(self) -> None:
        where = "disk %s" % self.id
        _require(_is_int(self.capacity) and self.capacity > 0 and self.capacity % SECTOR == 0, where,
                 "capacity %r is not a whole number of sectors" % (self.capacity,))
        _require(_is_int(self.chunk_size) and self.chunk_size > 0 and self.chunk_size % SECTOR == 0, where,
                 "chunk_size %r is not a whole number of sectors" % (self.chunk_size,))
        count = -(-self.capacity // self.chunk_size)
        _require(all(_is_int(n) and 0 <= n < count for n in self.chunks), where,
                 "chunk numbers run from 0 to %d for this capacity" % (count - 1))
        _require(all(a < b for a, b in zip(self.chunks, self.chunks[1:])), where, "chunk numbers ascend, each once")

    def bytes_total(self) -> int:
        return sum(min(self.chunk_size, self.capacity - n * self.chunk_size) for n in self.chunks)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> "ReadDiskPlan":
        return cls(**_fields(cls, value, "disk %s" % (value.get("id") if isinstance(value, dict) else "?")))


@dataclass(frozen=True)
class VddkLibrary:
    libdir: str
    config_file: Optional[str] = None


@dataclass(frozen=True)
class ConnectParams:
    """Where VDDK connects (VixDiskLibConnectParams, less the password, which travels apart from the
    plan on the worker's stdin). An open connection is _transfer/vddk.py's Connection."""
    server: Optional[str] = None
    port: int = 443
    user: Optional[str] = None
    thumbprint: Optional[str] = None
    vm_moref: Optional[str] = None
    snapshot_ref: Optional[str] = None
    transports: Optional[str] = None
    read_only: bool = False


@dataclass
class TransferPlan:
    direction: str
    vddk: VddkLibrary
    connection: ConnectParams
    disks: List[Union[WriteDiskPlan, ReadDiskPlan]] = field(default_factory=list)
    access: Optional[str] = None  # an access plan: "prepare" or "end"
    access_managed: bool = False  # the caller brackets the transfer with PrepareForAccess/EndAccess itself
    parallel_disks: int = DEFAULT_PARALLEL_DISKS
    buffer_bytes: int = 2 << 20
    in_flight: int = 4
    checkpoint_every_bytes: int = 64 << 20
    unbuffered: bool = False
    # the state folder's files, filled in by the DataMover
    status: Optional[str] = None
    checkpoint: Optional[str] = None
    log: Optional[str] = None
    version: int = PLAN_VERSION

    def __post_init__(self) -> None:
        _require(self.version == PLAN_VERSION, "version", "plan version %r, this worker runs version %d"
                 % (self.version, PLAN_VERSION))
        _require(self.direction in DIRECTIONS, "direction", "%r is not one of %s" % (self.direction, ", ".join(DIRECTIONS)))
        disk_type = {"write": WriteDiskPlan, "read": ReadDiskPlan}.get(self.direction)
        _require(all(isinstance(d, disk_type) for d in self.disks) if disk_type else not self.disks, "disks",
                 "a %s plan's disks are %s" % (self.direction, disk_type.__name__ if disk_type else "none"))
        _require(self.access in ((None,) if self.direction != "access" else ("prepare", "end")), "access",
                 "%r: an access plan says prepare or end, others say nothing" % (self.access,))
        ids = [d.id for d in self.disks]
        _require(len(set(ids)) == len(ids), "disks", "disk ids repeat: %s" % ids)
        _require(_is_int(self.buffer_bytes) and self.buffer_bytes > 0 and self.buffer_bytes % 4096 == 0, "buffer_bytes",
                 "%r is not a positive multiple of 4096 (direct I/O)" % (self.buffer_bytes,))
        for name in ("parallel_disks", "in_flight", "checkpoint_every_bytes"):
            _require(_is_int(getattr(self, name)) and getattr(self, name) > 0, name, "must be a positive integer")

    def to_json(self) -> dict:
        value = dataclasses.asdict(self)
        value["disks"] = [d.to_json() for d in self.disks]
        return value

    @classmethod
    def from_json(cls, value: Any) -> "TransferPlan":
        fields_ = _fields(cls, value, "plan")
        fields_["vddk"] = VddkLibrary(**_fields(VddkLibrary, fields_["vddk"], "vddk"))
        fields_["connection"] = ConnectParams(**_fields(ConnectParams, fields_["connection"], "connection"))
        disk_type = {"write": WriteDiskPlan, "read": ReadDiskPlan}.get(fields_["direction"])
        _require(isinstance(fields_.get("disks", []), list), "disks", "disks is a list")
        if disk_type:
            fields_["disks"] = [disk_type.from_json(d) for d in fields_.get("disks", [])]
        return cls(**fields_)


def _fields(cls, value: Any, where: str) -> dict:
    """value's fields for cls, refusing a missing required field and any field cls does not have."""
    _require(isinstance(value, dict), where, "expected an object, got %r" % type(value).__name__)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - set(known))
    _require(not unknown, where, "unknown field(s) %s" % ", ".join(unknown))
    missing = [name for name, f in known.items() if name not in value
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    _require(not missing, where, "missing field(s) %s" % ", ".join(missing))
    return dict(value)
