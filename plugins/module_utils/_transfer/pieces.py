# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cutting a disk plan's extents into the pieces the worker moves one buffer at a time. No Ansible imports."""

from __future__ import annotations

from typing import Iterable, Iterator, List, Tuple

from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import Extent, ZeroExtent


def pieces(extents: Iterable[Extent], piece_bytes: int, skip_bytes: int) -> Iterator[Tuple[int, int, Extent, int]]:
    """(disk offset, length, extent, position in the extent) of at most piece_bytes each, after
    the first skip_bytes of the plan (what a checkpoint says is written)."""
    for extent in extents:
        if skip_bytes >= extent.length:
            skip_bytes -= extent.length
            continue
        position, skip_bytes = skip_bytes, 0
        while position < extent.length:
            n = min(piece_bytes, extent.length - position)
            yield extent.offset + position, n, extent, position
            position += n


def zeros_where_allocated(extents: Iterable[Extent], allocated: List[Tuple[int, int]]) -> List[Extent]:
    """The extents with each zero extent cut to the areas the target holds data in: zeros must
    overwrite old data, and need not inflate a thin disk elsewhere."""
    result: List[Extent] = []
    for extent in extents:
        if not isinstance(extent, ZeroExtent):
            result.append(extent)
            continue
        start, end = extent.offset, extent.offset + extent.length
        for a_start, a_length in allocated:
            low, high = max(start, a_start), min(end, a_start + a_length)
            if low < high:
                result.append(ZeroExtent(low, high - low))
    return result
