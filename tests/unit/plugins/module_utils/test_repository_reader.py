"""The restore's repository reader reads chunks ahead of the writer on a thread pool: whatever the
order (a chunk used twice, zero chunks between, a transfer resumed inside a chunk) the pieces are
the point's bytes, and a damaged chunk fails only when its bytes are asked for."""
import os

import pytest

from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import ChunkCorruptError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.disk_writer import _RepositoryReader
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.pieces import pieces
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import ChunkExtent, RepositorySource, ZeroExtent

CHUNK = 64 * 1024


@pytest.fixture
def disk(tmp_path):
    """A repository and a disk of 12 chunks laid out as a restore plan sees them: chunk A twice,
    zero chunks between, the rest distinct; (repository, extents, the disk's bytes)."""
    repo = Repository.create(str(tmp_path / "repo"), chunk_size=CHUNK)
    contents = {letter: os.urandom(CHUNK) for letter in "ABCDEFGHI"}
    names = {letter: repo.chunks.put(data)[0] for letter, data in contents.items()}
    layout = "AB0ACD00EFGHI"
    extents = [ZeroExtent(i * CHUNK, CHUNK) if c == "0" else ChunkExtent(i * CHUNK, CHUNK, names[c]) for i, c in enumerate(layout)]
    image = b"".join(bytes(CHUNK) if c == "0" else contents[c] for c in layout)
    return repo, extents, image, names


def read_all(repo, extents, skip=0, piece=CHUNK // 3, until=None):
    reader = _RepositoryReader(RepositorySource(repo.location, "point", 2000), extents)
    try:
        return b"".join(bytes(reader(offset, length, extent, position))
                        for offset, length, extent, position in pieces(extents, piece, skip) if until is None or offset < until)
    finally:
        reader.close()


@pytest.mark.parametrize("skip", [0, 1, CHUNK - 512, 3 * CHUNK + 4096, 7 * CHUNK, 12 * CHUNK + CHUNK // 2])
def test_the_pieces_are_the_points_bytes_from_wherever_the_transfer_starts(disk, skip):
    repo, extents, image, _names = disk
    assert read_all(repo, extents, skip) == image[skip:]


def test_a_damaged_chunk_fails_when_asked_for_not_when_read_ahead(disk):
    repo, extents, image, names = disk
    path = repo.storage.path(repo.chunks.key(names["I"]))  # the last chunk: read ahead while the ones before it are cut
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    assert read_all(repo, extents, until=12 * CHUNK) == image[:12 * CHUNK]
    with pytest.raises(ChunkCorruptError, match="offset %d" % (12 * CHUNK)):
        read_all(repo, extents)
