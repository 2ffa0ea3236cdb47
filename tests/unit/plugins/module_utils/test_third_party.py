"""The chain reader against an image built independently, byte by byte."""
import json
import os
import random

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._repository.third_party import chain_map, raw_image_map

CAPACITY = 256 * 1024


def read_map(pieces, block=1 << 20):
    """(offset, bytes) of an extent map, at most block bytes at a time: what a restore writes."""
    for offset, length, (path, file_offset) in pieces:
        with open(path, "rb") as f:
            done = 0
            while done < length:
                f.seek(file_offset + done)
                data = f.read(min(block, length - done))
                yield offset + done, data
                done += len(data)


def _assemble(pieces):
    image = bytearray(CAPACITY)
    for offset, data in read_map(pieces, block=4096):
        image[offset:offset + len(data)] = data
    return bytes(image)


def test_a_full_and_three_incrementals_merge_newest_wins(tmp_path):
    rng = random.Random(11)
    full = os.urandom(CAPACITY)
    (tmp_path / "full.raw").write_bytes(full)
    reference = bytearray(full)  # the disk as the guest saw it, applied write after write
    incrementals = []
    for number, layout in enumerate(["packed", "sparse", "packed"], 1):
        extents = []
        for _e in range(5):
            offset = rng.randrange(0, CAPACITY - 8192) // 512 * 512
            extents.append([offset, rng.randrange(1, 16) * 512])
        merged = []
        for o, n in sorted(extents):  # QueryChangedDiskAreas answers merged, sorted areas
            if merged and o <= merged[-1][0] + merged[-1][1]:
                merged[-1][1] = max(merged[-1][0] + merged[-1][1], o + n) - merged[-1][0]
            else:
                merged.append([o, n])
        new = bytearray(reference)
        for o, n in merged:
            new[o:o + n] = os.urandom(n)
        if layout == "packed":
            data = b"".join(bytes(new[o:o + n]) for o, n in merged)
        else:
            data = bytes(new)
        (tmp_path / ("inc%d.bin" % number)).write_bytes(data)
        qcda = {"changedArea": [{"start": o, "length": n} for o, n in merged]}
        (tmp_path / ("inc%d.qcda.json" % number)).write_text(json.dumps(qcda))
        incrementals.append({"data": "inc%d.bin" % number, "layout": layout, "extents": "inc%d.qcda.json" % number})
        reference = new
    (tmp_path / "chain.json").write_text(json.dumps({"capacity": CAPACITY, "full": "full.raw",
                                                     "incrementals": incrementals}))
    capacity, pieces = chain_map(str(tmp_path / "chain.json"))
    assert capacity == CAPACITY and sum(n for _o, n, _where in pieces) == CAPACITY  # each byte once
    assert _assemble(pieces) == bytes(reference)


def test_a_raw_image_is_one_piece(tmp_path):
    data = os.urandom(CAPACITY)
    (tmp_path / "disk.raw").write_bytes(data)
    assert _assemble(raw_image_map(str(tmp_path / "disk.raw"))) == data


def test_a_packed_incremental_follows_its_list_order_and_refuses_overlaps(tmp_path):
    """Found by the randomized restore check: positions in a packed file were computed over the
    sorted, merged areas, so an unsorted or overlapping list put bytes at the wrong offsets."""
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import RepositoryError
    (tmp_path / "full.raw").write_bytes(bytes(8192))
    (tmp_path / "inc.bin").write_bytes(b"B" * 512 + b"A" * 1024)  # the later area listed first
    (tmp_path / "chain.json").write_text(json.dumps({"capacity": 8192, "full": "full.raw", "incrementals": [
        {"data": "inc.bin", "layout": "packed", "extents": [[4096, 512], [0, 1024]]}]}))
    _capacity, pieces = chain_map(str(tmp_path / "chain.json"))
    image = bytearray(8192)
    for offset, length, (path, file_offset) in pieces:
        with open(path, "rb") as f:
            f.seek(file_offset)
            image[offset:offset + length] = f.read(length)
    assert image[:1024] == b"A" * 1024 and image[4096:4608] == b"B" * 512
    (tmp_path / "chain.json").write_text(json.dumps({"capacity": 8192, "full": "full.raw", "incrementals": [
        {"data": "inc.bin", "layout": "packed", "extents": [[0, 1024], [512, 512]]}]}))
    with pytest.raises(RepositoryError, match="overlapping areas"):
        chain_map(str(tmp_path / "chain.json"))
