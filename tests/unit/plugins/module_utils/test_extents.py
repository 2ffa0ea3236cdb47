"""Extent arithmetic, checked against byte-by-byte references."""
import random

from ansible_collections.vadp.vsphere.plugins.module_utils.extents import align, layer, normalize, subtract


def _bytes_of(extents, size):
    covered = [False] * size
    for offset, length in extents:
        for b in range(offset, offset + length):
            covered[b] = True
    return covered


def test_normalize_subtract_align():
    assert normalize([(10, 5), (0, 4), (12, 10), (30, 0)]) == [(0, 4), (10, 12)]
    assert subtract([(0, 100)], [(10, 10), (50, 60)]) == [(0, 10), (20, 30)]
    assert align([(100, 10), (70000, 1)], 65536, limit=100000) == [(0, 100000)]


def test_layer_is_newest_wins_and_covers_each_byte_once():
    rng = random.Random(7)
    size = 400
    layers = [[(rng.randrange(size - 40), rng.randrange(1, 40)) for _e in range(6)] for _l in range(4)]
    owner = [None] * size  # the reference: apply the layers in order, each byte keeps the last writer
    for index, extents in enumerate(layers):
        for offset, length in extents:
            for b in range(offset, offset + length):
                owner[b] = index
    pieces = layer(layers)
    seen = [None] * size
    for offset, length, index in pieces:
        for b in range(offset, offset + length):
            assert seen[b] is None  # written once
            seen[b] = index
    assert seen == owner
