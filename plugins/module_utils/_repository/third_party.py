# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sources from other VADP tools, as extent maps a restore can write from: a raw disk image,
and a chain of another VADP tool (a full raw image plus incrementals, each with the changed areas
QueryChangedDiskAreas reported), merged newest-wins so every byte is read from one place and
written once. No Ansible imports.

Areas must lie on 512-byte sectors (VDDK writes whole sectors); others are refused, never shifted.
A chain is described by a JSON file (docs/restore-point-format.md, "Other sources"):
    {"capacity": 268435456, "full": "full.raw",
     "incrementals": [{"data": "inc1.bin", "layout": "packed", "extents": [[offset, length], ...]},
                      {"data": "inc2.raw", "layout": "sparse", "extents": "inc2.qcda.json"}]}
Paths are relative to the JSON file. "packed" data holds the changed areas back to back in extent
order; "sparse" data is an image with each changed area at its own offset. "extents" is a list,
or a file holding a list or a QueryChangedDiskAreas answer ({"changedArea": [{"start", "length"}]}).
"""

import functools
import json
import os

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import SourceUnalignedError
from ansible_collections.vadp.vsphere.plugins.module_utils.extents import SECTOR, Extent, layer, normalize
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import RepositoryError


def raw_image_map(path, capacity=None):
    """[Extent(offset, length, (file, file offset))] of a raw image (capacity: its size by default)."""
    size = os.path.getsize(path)
    capacity = size if capacity is None else capacity
    if size < capacity:
        raise RepositoryError("raw image %s holds %d bytes, less than the disk's %d" % (path, size, capacity))
    return [Extent(0, capacity, (path, 0))]


def _extents(value, base):
    if isinstance(value, str):
        with open(os.path.join(base, value)) as f:
            value = json.load(f)
    if isinstance(value, dict):
        value = [(a["start"], a["length"]) for a in value.get("changedArea", [])]
    return [(int(o), int(n)) for o, n in value]


def _sparse_location(data, offset):
    return data, offset


def _packed_location(starts, data, offset):
    for start, length, position in starts:
        if start <= offset < start + length:
            return data, position + offset - start
    raise RepositoryError("offset %d is in none of %s's areas" % (offset, data))


def chain_map(description_path):
    """(capacity, [Extent(offset, length, (file, file offset))]) of a chain, newest data winning."""
    base = os.path.dirname(os.path.abspath(description_path))
    with open(description_path) as f:
        chain = json.load(f)
    capacity = int(chain["capacity"])
    layers = [[(0, capacity)]]
    locate = [functools.partial(_sparse_location, os.path.join(base, chain["full"]))]
    for number, inc in enumerate(chain.get("incrementals", []), 1):
        data = os.path.join(base, inc["data"])
        extents = normalize(_extents(inc["extents"], base))
        if any(o + n > capacity for o, n in extents):
            raise RepositoryError("incremental %d of %s has areas beyond the capacity" % (number, description_path))
        unaligned = [(o, n) for o, n in extents if o % SECTOR or n % SECTOR]
        if unaligned:  # VDDK writes whole sectors: such an area could only be written shifted
            raise SourceUnalignedError("incremental %d of %s has an area at byte %d of %d bytes, not on 512-byte sectors: "
                                       "it cannot be written exactly" % ((number, description_path) + unaligned[0]))
        if inc.get("layout", "packed") == "packed":
            # the packed file holds the areas back to back in the order listed, not sorted: positions
            # follow that order, and overlapping areas (which bytes would be whose?) are refused
            listed = [(o, n) for o, n in _extents(inc["extents"], base) if n > 0]
            ordered = sorted(listed)
            for (o1, n1), (o2, _n2) in zip(ordered, ordered[1:]):
                if o2 < o1 + n1:
                    raise RepositoryError("incremental %d of %s has overlapping areas (%d+%d and %d) in a packed layout: "
                                          "which bytes belong to which area is ambiguous" % (
                                              number, description_path, o1, n1, o2))
            starts, position = [], 0
            for offset, length in listed:  # where each area's bytes begin in the packed file
                starts.append((offset, length, position))
                position += length
            if os.path.getsize(data) < position:
                raise RepositoryError("incremental %s holds %d bytes, its areas need %d" % (data, os.path.getsize(data), position))
            locate.append(functools.partial(_packed_location, starts, data))
        else:
            locate.append(functools.partial(_sparse_location, data))
        layers.append(extents)
    pieces = []
    for offset, length, index in layer(layers):
        # a piece lies within one area of its layer, so one lookup places all of it
        pieces.append(Extent(offset, length, locate[index](offset)))
    return capacity, pieces
