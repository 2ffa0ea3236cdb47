"""The restore's repository reader reads chunks ahead of the writer on a thread pool: whatever the
order (a chunk used twice, zero chunks between, a transfer resumed inside a chunk) the pieces are
the point's bytes, and a damaged chunk fails only when its bytes are asked for."""
import datetime
import os

import pytest

import synthetic_repo
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import ChunkCorruptError
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.disk_writer import _RepositoryReader
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.pieces import pieces
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import PointExtent, RepositorySource, ZeroExtent

CHUNK = synthetic_repo.CHUNK


@pytest.fixture
def disk(tmp_path):
    """A point whose disk of 13 chunks holds chunk A twice, zero chunks between, the rest distinct,
    and a plan of the whole disk as a full restore makes it (extents across chunk borders and
    over zero chunks); (repository, point id, extents, the disk's bytes, chunk names)."""
    repo = synthetic_repo.repository(tmp_path / "repo")
    contents = {letter: os.urandom(CHUNK) for letter in "ABCDEFGHI"}
    layout = "AB0ACD00EFGHI"
    point = synthetic_repo.add_point(repo, "vm", datetime.datetime.now(datetime.timezone.utc),
                                     [None if c == "0" else contents[c] for c in layout])
    names = {letter: repo.chunks.name(data) for letter, data in contents.items()}
    extents = [PointExtent(0, 2 * CHUNK), ZeroExtent(2 * CHUNK, CHUNK), PointExtent(3 * CHUNK, 10 * CHUNK)]
    image = b"".join(bytes(CHUNK) if c == "0" else contents[c] for c in layout)
    return repo, point["id"], extents, image, names


def read_all(repo, point_id, extents, skip=0, piece=CHUNK // 3, until=None):
    reader = _RepositoryReader(RepositorySource(repo.location, point_id, 2000), extents)
    try:
        return b"".join(b"".join(reader(offset, length, extent, position))
                        for offset, length, extent, position in pieces(extents, piece, skip) if until is None or offset < until)
    finally:
        reader.close()


@pytest.mark.parametrize("skip", [0, 1, CHUNK - 512, 3 * CHUNK + 4096, 7 * CHUNK, 12 * CHUNK + CHUNK // 2])
def test_the_pieces_are_the_points_bytes_from_wherever_the_transfer_starts(disk, skip):
    repo, point_id, extents, image, _names = disk
    assert read_all(repo, point_id, extents, skip) == image[skip:]
    # pieces larger than a chunk, not aligned to one: each joins the chunks it spans
    assert read_all(repo, point_id, extents, skip, piece=CHUNK + CHUNK // 2) == image[skip:]


def test_a_damaged_chunk_fails_when_asked_for_not_when_read_ahead(disk):
    repo, point_id, extents, image, names = disk
    path = repo.storage.path(repo.chunks.key(names["I"]))  # the last chunk: read ahead while the ones before it are cut
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    assert read_all(repo, point_id, extents, piece=CHUNK // 4, until=12 * CHUNK) == image[:12 * CHUNK]
    with pytest.raises(ChunkCorruptError, match="offset %d" % (12 * CHUNK)):
        read_all(repo, point_id, extents)
