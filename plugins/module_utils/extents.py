# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Disk geometry and extents: the sector, the Extent every layer describes a disk's areas with,
and arithmetic on lists of (offset, length) byte ranges. No Ansible imports; imports nothing of
the collection, so every layer may use it.
"""

from typing import Any, NamedTuple

SECTOR = 512  # bytes: VDDK reads and writes whole sectors, so every extent written lies on them


class Extent(NamedTuple):
    """offset and length in bytes of a disk's area, and where its bytes come from: a chunk's
    name (a repository), a (file, file offset) pair (a raw image or chain), or None (zeros)."""
    offset: int
    length: int
    source: Any = None


def normalize(extents):
    """Sorted, merged, without empty ranges."""
    merged = []
    for offset, length in sorted((o, n) for o, n in extents if n > 0):
        if merged and offset <= merged[-1][0] + merged[-1][1]:
            end = max(merged[-1][0] + merged[-1][1], offset + length)
            merged[-1] = (merged[-1][0], end - merged[-1][0])
        else:
            merged.append((offset, length))
    return merged


def align(extents, block, limit=None):
    """Each extent widened to whole blocks (and cut at limit), merged."""
    aligned = []
    for offset, length in extents:
        start = offset // block * block
        end = -(-(offset + length) // block) * block
        if limit is not None:
            end = min(end, limit)
        aligned.append((start, end - start))
    return normalize(aligned)


def subtract(extents, removed):
    """The parts of extents not covered by removed."""
    result = []
    removed = normalize(removed)
    for offset, length in normalize(extents):
        start, end = offset, offset + length
        for r_offset, r_length in removed:
            r_end = r_offset + r_length
            if r_end <= start or r_offset >= end:
                continue
            if r_offset > start:
                result.append((start, r_offset - start))
            start = max(start, r_end)
            if start >= end:
                break
        if start < end:
            result.append((start, end - start))
    return result


def layer(layers):
    """Merge layers, newest last, into [(offset, length, layer index)]: each byte from the
    newest layer that has it (newest wins), each range listed once."""
    pieces = []
    covered = []
    for index in range(len(layers) - 1, -1, -1):
        for offset, length in subtract(layers[index], covered):
            pieces.append((offset, length, index))
        covered = normalize(covered + list(layers[index]))
    return sorted(pieces)
