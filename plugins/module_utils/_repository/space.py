# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Space accounting of a repository: what each point references, what only it holds (what
removing it would free), and the repository's deduplication ratio. No Ansible imports."""

from collections import Counter
from typing import Dict, List, Tuple


def _chunk_size(repository, digest: bytes) -> int:
    return repository.chunks.size(digest.hex()) or 0  # a missing chunk frees nothing; verification reports it


def space_report(repository, manifests: List[dict]) -> Tuple[Dict[str, dict], dict]:
    """({point id: {referenced_bytes, unique_bytes}}, repository totals) over every point given
    (give them all: a chunk another VM's point shares is not unique to a point)."""
    chunks_of = {}
    for manifest in manifests:
        chunks_of[manifest["id"]] = {bytes.fromhex(e) for d in manifest["disks"]
                                     for e in repository.points.read_index(manifest, d).entries if e is not None}
    holders = Counter(digest for chunks in chunks_of.values() for digest in chunks)
    sizes = {digest: _chunk_size(repository, digest) for digest in holders}
    per_point = {point: {"referenced_bytes": sum(sizes[c] for c in chunks),
                         "unique_bytes": sum(sizes[c] for c in chunks if holders[c] == 1)}
                 for point, chunks in chunks_of.items()}
    logical = sum(d["capacity_bytes"] for m in manifests for d in m["disks"])
    stored = sum(sizes.values())
    return per_point, {"points": len(manifests), "chunks": len(sizes), "logical_bytes": logical, "stored_bytes": stored,
                       "dedup_ratio": round(logical / stored, 2) if stored else None}
