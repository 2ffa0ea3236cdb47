"""The restore point repository on real files (docs/restore-point-format.md)."""
import hashlib
import os
import random
import stat
import subprocess

import pytest
import zstandard

from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import (
    ChunkCorruptError,
    PointNotFoundError,
    RepositoryError,
    RepositoryFullError,
    RepositoryReadOnlyError,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.index import DiskIndex
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository

CHUNK = 64 * 1024
VM = "5003c1c4-0000-0000-0000-000000000001"


@pytest.fixture
def repo(tmp_path):
    return Repository.create(str(tmp_path / "repo"), chunk_size=CHUNK)


def _point(repo, chunks, time, point_id):
    writer = repo.points.begin(VM, point_id)
    entries = [repo.chunks.put(c)[0] for c in chunks]
    name = writer.write_file("disk-2000.index", DiskIndex(CHUNK, CHUNK * len(chunks), entries).to_bytes())
    return writer, {"type": "full", "parent": None, "time": time, "vm": {"name": "web01", "instance_uuid": VM},
                    "disks": [{"key": 2000, "index": name, "capacity_bytes": CHUNK * len(chunks)}]}


def test_chunks_are_content_addressed_compressed_deduplicated_and_zeros_are_not_stored(repo):
    data = os.urandom(CHUNK // 2) * 2
    digest, stored = repo.chunks.put(data)
    assert digest == hashlib.sha256(data).hexdigest() and 0 < stored < len(data)  # compressed
    assert repo.chunks.put(data) == (digest, 0)  # already there: stored once
    assert repo.chunks.get(digest) == data
    assert repo.chunks.put(bytes(CHUNK)) == (None, 0)
    assert not [n for n in os.listdir(os.path.dirname(repo.storage.path(repo.chunks.key(digest)))) if ".tmp." in n]


@pytest.mark.parametrize("kind", ["raw", "compressed"])
def test_a_chunk_changed_with_its_stored_checksum_is_refused_by_its_name(repo, kind):
    data = os.urandom(CHUNK) if kind == "raw" else os.urandom(CHUNK // 2) * 2
    digest, _stored = repo.chunks.put(data)
    with open(repo.storage.path(repo.chunks.key(digest)), "rb") as f:
        stored = bytearray(f.read())
    assert stored[8] == (0 if kind == "raw" else 1)  # random data does not compress: stored as it is
    assert bytes(stored[16:48]) == hashlib.sha256(bytes(stored[48:])).digest()  # the format's checksum, whatever the kind
    if kind == "raw":
        stored[-1] ^= 1
    else:  # another valid zstd frame of the same length: it decompresses, to other bytes
        stored[48:] = zstandard.ZstdCompressor(level=3).compress(os.urandom(CHUNK // 2) * 2)
    stored[16:48] = hashlib.sha256(bytes(stored[48:])).digest()  # recomputed, as bit rot "repaired" by a tool would be
    with open(repo.storage.path(repo.chunks.key(digest)), "wb") as f:
        f.write(bytes(stored))
    with pytest.raises(ChunkCorruptError, match="does not match its hash"):
        repo.chunks.get(digest)
    assert repo.chunks.get(digest, rehash=False) != data  # only the name catches it


def test_two_writers_of_one_chunk_both_succeed(tmp_path):
    first = Repository.create(str(tmp_path / "repo"), chunk_size=CHUNK)
    second = Repository(str(tmp_path / "repo"))
    data = os.urandom(CHUNK)
    assert first.chunks.put(data)[0] == second.chunks.put(data)[0]
    assert second.chunks.get(hashlib.sha256(data).hexdigest()) == data


def test_files_and_folders_are_owner_only(repo):
    digest, _stored = repo.chunks.put(os.urandom(CHUNK))
    assert stat.S_IMODE(os.stat(repo.location).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(repo.storage.path(repo.chunks.key(digest))).st_mode) == 0o600


def test_a_point_exists_only_once_its_manifest_is_written(repo):
    writer, manifest = _point(repo, [os.urandom(CHUNK)], "2026-11-24T22:00:00Z", "p1")
    assert repo.points.list(VM) == []  # interrupted before the manifest: no point
    writer.commit(manifest)
    assert [m["id"] for m in repo.points.list(VM)] == ["p1"]


def test_points_are_selected_by_id_latest_or_time(repo):
    for point_id, time in (("p1", "2026-11-20T22:00:00Z"), ("p2", "2026-11-21T22:00:00Z"), ("p3", "2026-11-22T22:00:00Z")):
        writer, manifest = _point(repo, [os.urandom(CHUNK)], time, point_id)
        writer.commit(manifest)
    assert repo.points.find(VM, "latest")["id"] == "p3"
    assert repo.points.find(VM, "p1")["id"] == "p1"
    assert repo.points.find(VM, "2026-11-21T23:59:00Z")["id"] == "p2"
    assert repo.points.find(VM, "2026-11-21")["id"] == "p1"  # midnight: the 21st's backup is later
    with pytest.raises(PointNotFoundError, match="no restore point at or before 2026-11-01.*the first is 2026-11-20"):
        repo.points.find(VM, "2026-11-01")
    with pytest.raises(PointNotFoundError, match="has no restore point 'p9'"):
        repo.points.find(VM, "p9")


def test_index_images_merge_zero_runs(repo):
    a, b = os.urandom(CHUNK), os.urandom(CHUNK)
    index = DiskIndex(CHUNK, 4 * CHUNK + 512, [repo.chunks.put(c)[0] for c in (a, bytes(CHUNK), bytes(CHUNK), b, bytes(512))])
    assert [(o, n, h is not None) for o, n, h in DiskIndex.from_bytes(index.to_bytes()).extents()] == [
        (0, CHUNK, True), (CHUNK, 2 * CHUNK, False), (3 * CHUNK, CHUNK, True), (4 * CHUNK, 512, False)]


def test_verify_finds_a_flipped_byte_a_missing_chunk_and_a_truncated_index(repo):
    chunks = [os.urandom(CHUNK) for _i in range(3)]
    writer, manifest = _point(repo, chunks, "2026-11-24T22:00:00Z", "p1")
    manifest = writer.commit(manifest)
    assert repo.verify(manifest, deep=True) == []

    flipped = repo.storage.path(repo.chunks.key(hashlib.sha256(chunks[1]).hexdigest()))
    with open(flipped, "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert repo.verify(manifest) == []  # quick verify only checks presence
    [damaged] = repo.verify(manifest, deep=True)
    assert (damaged["point"], damaged["disk"], damaged["offset"]) == ("p1", 2000, CHUNK)
    assert "damaged" in damaged["problem"] and "offset 65536" in damaged["problem"]
    with pytest.raises(ChunkCorruptError):
        repo.chunks.get(hashlib.sha256(chunks[1]).hexdigest())

    os.remove(repo.storage.path(repo.chunks.key(hashlib.sha256(chunks[2]).hexdigest())))
    [missing] = repo.verify(manifest)
    assert missing["offset"] == 2 * CHUNK and "missing" in missing["problem"]

    index = os.path.join(repo.storage.path(repo.points.folder(manifest)), "disk-2000.index")
    with open(index, "r+b") as f:
        f.truncate(os.path.getsize(index) - 10)
    [truncated] = repo.verify(manifest)
    assert truncated["offset"] is None and "truncated" in truncated["problem"]


def test_an_unknown_format_version_is_refused(tmp_path):
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "repository.json").write_text('{"format": "vadp-restore-points", "version": 3, "chunk_size": 65536}')
    with pytest.raises(RepositoryError, match="version 3"):
        Repository(str(folder))


def _create(path, results):
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
    try:
        Repository.create(path)
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        results.put(repr(exc))


@pytest.mark.slow
def test_backups_starting_together_on_a_new_repository_all_open_it(tmp_path):
    """Eight processes create the same new repository at once, 300 times: none may read a
    half-written repository.json (the old O_EXCL-then-write did, a few times in a hundred)."""
    import multiprocessing
    failures = []
    for attempt in range(300):
        results = multiprocessing.Queue()
        path = str(tmp_path / ("repo-%d" % attempt))
        workers = [multiprocessing.Process(target=_create, args=(path, results)) for _i in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        failures += [r for r in (results.get() for _w in workers) if r != "ok"]
    assert failures == []


def test_a_damaged_newest_manifest_is_an_error_never_a_missing_point(repo):
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointDamagedError
    writer, manifest = _point(repo, [b"a" * CHUNK], "2026-11-01T00:00:00Z", "20261101T000000Z-aaaaaa")
    writer.commit(manifest)
    writer, manifest = _point(repo, [b"b" * CHUNK], "2026-11-02T00:00:00Z", "20261102T000000Z-bbbbbb")
    newest = writer.commit(manifest)
    path = os.path.join(repo.storage.path(repo.points.folder(newest)), "manifest.json")
    with open(path, "r+b") as f:
        f.truncate(40)  # a torn copy, a disk error
    with pytest.raises(PointDamagedError, match="manifest.json is damaged") as caught:
        repo.points.find(VM, "latest")  # never the previous point in its place
    assert caught.value.error_code == "POINT_DAMAGED" and path in caught.value.message
    with pytest.raises(PointDamagedError):
        repo.points.list()
    os.makedirs(os.path.join(repo.storage.path(repo.points.vm_folder(VM)), "20261103T000000Z-cccccc"))  # a backup still running: no manifest
    os.remove(path)
    assert [m["id"] for m in repo.points.list()] == ["20261101T000000Z-aaaaaa"]


@pytest.mark.parametrize("where", ["another point of the VM", "a point of another VM"])
def test_a_manifest_copied_into_another_points_folder_is_damage_never_that_point(tmp_path, where):
    """A plain repository trusts nothing about a manifest's place: copied over another point's (an
    admin's cp -r, a sync tool), or with its whole folder under another VM's, it is POINT_DAMAGED
    naming the file, never the other point restored as this one."""
    import shutil
    import synthetic_repo as synth
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointDamagedError
    repository = synth.repository(tmp_path / "repo")
    first = synth.add_point(repository, "web01", synth.utc(2026, 11, 1), [synth.chunk(1)])
    second = synth.add_point(repository, "web01", synth.utc(2026, 11, 2), [synth.chunk(2)])
    other = synth.add_point(repository, "db01", synth.utc(2026, 11, 3), [synth.chunk(3)])
    if where == "another point of the VM":
        path = os.path.join(repository.storage.path(repository.points.folder(second)), "manifest.json")
        shutil.copy(os.path.join(repository.storage.path(repository.points.folder(first)), "manifest.json"), path)
    else:
        folder = os.path.join(repository.storage.path(repository.points.vm_folder(other["vm"]["instance_uuid"])), first["id"])
        shutil.copytree(repository.storage.path(repository.points.folder(first)), folder)
        path = os.path.join(folder, "manifest.json")
    with pytest.raises(PointDamagedError) as caught:
        repository.points.list()
    assert caught.value.error_code == "POINT_DAMAGED" and path in caught.value.message
    assert "copied or moved" in caught.value.message


def test_an_empty_point_selector_is_refused_not_taken_for_latest(repo):
    writer, manifest = _point(repo, [b"a" * CHUNK], "2026-11-01T00:00:00Z", "20261101T000000Z-aaaaaa")
    writer.commit(manifest)
    for empty in ("", "  "):
        with pytest.raises(PointNotFoundError, match="restore_point is empty"):
            repo.points.find(VM, empty)
    assert repo.points.find(VM, "latest")["id"] == "20261101T000000Z-aaaaaa"


def test_a_repository_is_created_only_in_a_new_or_empty_folder(tmp_path):
    foreign = tmp_path / "borg"
    foreign.mkdir()
    (foreign / "config").write_text("[repository]\nversion = 1\n")
    (foreign / "data").mkdir()
    with pytest.raises(RepositoryError, match="not empty: it holds config, data"):
        Repository.create(str(foreign))
    assert sorted(os.listdir(str(foreign))) == ["config", "data"]  # nothing added
    (tmp_path / "file").write_text("x")
    with pytest.raises(RepositoryError, match="is a file"):
        Repository.create(str(tmp_path / "file"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert Repository.create(str(empty)).chunk_size == 1 << 20  # a folder's default


def test_a_dry_run_checks_and_writes_nothing(tmp_path):
    assert Repository.create(str(tmp_path / "new"), dry_run=True) is None
    assert not (tmp_path / "new").exists()
    with pytest.raises(RepositoryError, match="64 KiB to 64 MiB"):
        Repository.create(str(tmp_path / "new"), chunk_size=128 << 20, dry_run=True)
    existing = Repository.create(str(tmp_path / "repo"))
    assert Repository.create(existing.location, dry_run=True).location == existing.location  # an existing one is opened


@pytest.fixture
def small_filesystem(tmp_path):
    """A real 1 MiB file system (tmpfs): ENOSPC and EROFS for real."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], check=False).returncode:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_file_system_is_repository_full_and_leaves_no_temporary_file(small_filesystem):
    repo = Repository.create(str(small_filesystem / "repo"), chunk_size=CHUNK)
    with pytest.raises(RepositoryFullError) as raised:
        for i in range(40):  # 40 chunks of 64 KiB that do not compress: more than 1 MiB
            repo.chunks.put(random.Random(i).randbytes(CHUNK))
    assert raised.value.error_code == "REPOSITORY_FULL" and str(small_filesystem) in str(raised.value)
    assert not [n for _r, _d, names in os.walk(str(small_filesystem)) for n in names if ".tmp." in n]


def test_a_read_only_file_system_is_refused_before_writing(small_filesystem):
    repo = Repository.create(str(small_filesystem / "repo"), chunk_size=CHUNK)
    subprocess.run(["mount", "-o", "remount,ro", str(small_filesystem)], check=True)
    with pytest.raises(RepositoryReadOnlyError):
        repo.check_writable()


def test_an_abandoned_point_leaves_no_folder_and_keeps_its_neighbours(repo):
    kept, manifest = _point(repo, [b"a" * CHUNK], "2026-01-01T00:00:00Z", "20260101T000000Z-000001")
    kept.commit(manifest)
    unfinished, _manifest = _point(repo, [b"b" * CHUNK], "2026-01-02T00:00:00Z", "20260102T000000Z-000002")
    unfinished.abandon()
    assert os.listdir(repo.storage.path(repo.points.vm_folder(VM))) == ["20260101T000000Z-000001"]
    alone = repo.points.begin("another-vm")
    alone.write_file("nvram", b"x")
    alone.abandon()  # that VM's first point: its folders go too
    assert os.listdir(os.path.join(repo.location, "vms")) == [VM]


# header bytes no checksum covers: offset 8 compression, 9-11 reserved, 12-15 plain length
@pytest.mark.parametrize("compressible, offset, value", [
    (True, 8, 0),        # zstd said to be stored raw
    (False, 8, 1),       # raw data said to be zstd
    (False, 8, 7),       # no such compression
    (True, 9, 1),        # reserved byte set
    (True, 12, 1),       # plain length of a compressed chunk
    (False, 13, 2),      # plain length of a raw chunk
], ids=["zstd-as-raw", "raw-as-zstd", "unknown-compression", "reserved", "zstd-length", "raw-length"])
def test_every_damage_to_a_chunk_header_is_chunk_corrupt(repo, compressible, offset, value):
    """The stored checksum covers the payload only; each header field is checked for what it can
    be, so damage there is CHUNK_CORRUPT naming the chunk, never an internal error."""
    data = (b"compressible " * CHUNK)[:CHUNK] if compressible else os.urandom(CHUNK)
    digest, _stored = repo.chunks.put(data)
    path = repo.storage.path(repo.chunks.key(digest))
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(bytes([value]))
    with pytest.raises(ChunkCorruptError) as caught:
        repo.chunks.get(digest)
    assert caught.value.error_code == "CHUNK_CORRUPT" and digest in caught.value.message


def _rewrite_manifest(repository, manifest, **changes):
    import json
    path = os.path.join(repository.storage.path(repository.points.folder(manifest)), "manifest.json")
    with open(path, "w") as f:
        json.dump(dict(manifest, **changes), f)
    return path


def test_a_damaged_point_of_one_vm_is_listed_and_leaves_the_others_to_prune(tmp_path):
    """One VM's damaged manifest stops nothing for the other VMs: info lists it (and verify counts it
    as a problem), a prune of every VM prunes the others, keeps all of that VM's points and
    collects no chunk; a prune of that VM alone stops with POINT_DAMAGED."""
    import synthetic_repo as synth
    from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.point_info import PointInfo, PointInfoOptions
    from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.prune import PruneJob, PruneOptions
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointDamagedError
    repository = synth.repository(tmp_path / "repo")
    web = [synth.add_point(repository, "web01", synth.utc(2026, 11, day), [synth.chunk(day)]) for day in (1, 2)]
    db = [synth.add_point(repository, "db01", synth.utc(2026, 11, day), [synth.chunk(10 + day)]) for day in (1, 2)]
    path = os.path.join(repository.storage.path(repository.points.folder(db[0])), "manifest.json")
    with open(path, "r+b") as f:
        f.truncate(30)

    info = PointInfo(PointInfoOptions(repository=repository.location, verify="quick")).run()
    assert sorted(p["id"] for p in info["points"]) == sorted([web[0]["id"], web[1]["id"], db[1]["id"]])
    assert [(d["vm_key"], d["point"]) for d in info["damaged_points"]] == [(db[0]["vm"]["instance_uuid"], db[0]["id"])]
    assert not info["verified_ok"] and info["problems"][0]["point"] == db[0]["id"] and info["unreferenced_chunks"] is None

    warnings = []
    result = PruneJob(PruneOptions(repository=repository.location, keep_last=1), warn=warnings.append).run()
    assert [p["id"] for p in result["vms"][web[0]["vm"]["instance_uuid"]]["removed"]] == [web[0]["id"]]
    assert db[0]["vm"]["instance_uuid"] not in result["vms"] and result["gc"] is None
    assert os.path.exists(path) and os.path.isdir(repository.storage.path(repository.points.folder(db[1]))) and db[0]["id"] in warnings[0]
    assert repository.chunks.has(repository.chunks.name(synth.chunk(1)))  # not collected while a point is unknown
    with pytest.raises(PointDamagedError):
        PruneJob(PruneOptions(repository=repository.location, vm="db01", keep_last=1)).run()
    assert os.path.isdir(repository.storage.path(repository.points.folder(db[1])))


def test_a_manifest_of_an_unknown_version_is_not_read(tmp_path):
    """A newer writer's point may mean something else by the same bytes: refused, named, never guessed."""
    import synthetic_repo as synth
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointDamagedError
    repository = synth.repository(tmp_path / "repo")
    point = synth.add_point(repository, "web01", synth.utc(2026, 11, 1), [synth.chunk(1)])
    assert point["format"] == "vadp-restore-point" and point["version"] == 2
    for changes in ({"version": 3}, {"format": "something-else"}):
        _rewrite_manifest(repository, point, **changes)
        with pytest.raises(PointDamagedError, match="this collection reads vadp-restore-point versions 1 and 2"):
            repository.points.list()
    _rewrite_manifest(repository, point, version=1)
    assert repository.points.list()[0]["id"] == point["id"]


@pytest.mark.parametrize("change", ["capacity", "chunk size"])
def test_an_index_that_does_not_fit_its_disk_is_damage(tmp_path, change):
    """A plain index's trailing checksum can be recomputed by anyone: an index of another size or
    chunk size, checksum and all, is POINT_DAMAGED, never restored shifted or cut."""
    import synthetic_repo as synth
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointDamagedError
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.index import DiskIndex
    repository = synth.repository(tmp_path / "repo")
    point = synth.add_point(repository, "web01", synth.utc(2026, 11, 1), [synth.chunk(1), synth.chunk(2)])
    disk = point["disks"][0]
    index = repository.points.read_index(point, disk)
    if change == "capacity":
        other = DiskIndex(index.chunk_size, index.capacity - 512, index.entries)
    else:
        other = DiskIndex(index.chunk_size * 2, index.capacity, index.entries[:1])
    with open(repository.storage.path("%s/%s" % (repository.points.folder(point), disk["index"])), "wb") as f:
        f.write(other.to_bytes())  # over the written index, as only someone outside the collection can
    with pytest.raises(PointDamagedError, match="does not fit its disk"):
        repository.points.read_index(point, disk)
    assert repository.verify(point)[0]["offset"] is None


@pytest.mark.parametrize("selector, chosen", [
    ("2026-11-25", "first"), ("2026-11-25T21", "second"), ("2026-11-25T20:59", "first"), ("2026-11-25 21:00:00", "second"),
    ("2026-11-25T21:00:00.5Z", "second"), ("2026-11-25T23:00:00+02:00", "second"), ("2026-11-25T20:59:59-00:00", "first"),
])
def test_every_documented_time_form_selects_the_last_point_at_or_before_it(tmp_path, selector, chosen):
    """docs/restore-point-format.md, "Points, chains and selection": a time without an offset is
    UTC, a date alone its first second."""
    import synthetic_repo as synth
    repository = synth.repository(tmp_path / "repo")
    points = {"first": synth.add_point(repository, "web01", synth.utc(2026, 11, 24, 12), [synth.chunk(1)]),
              "second": synth.add_point(repository, "web01", synth.utc(2026, 11, 25, 21), [synth.chunk(2)])}
    vm_key = points["first"]["vm"]["instance_uuid"]
    assert repository.points.find(vm_key, selector)["id"] == points[chosen]["id"]
    with pytest.raises(PointNotFoundError):  # the basic form is not a time: looked up as an id
        repository.points.find(vm_key, "20261125T210000Z")


def test_a_prune_of_one_vm_never_collects_the_chunks_of_another(tmp_path):
    """The collection after a prune of one VM keeps every chunk any other VM's point needs."""
    import synthetic_repo as synth
    from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.prune import PruneJob, PruneOptions
    repository = synth.repository(tmp_path / "repo")
    web = [synth.add_point(repository, "web01", synth.utc(2026, 11, day), [synth.chunk(day)]) for day in (1, 2)]
    db = synth.add_point(repository, "db01", synth.utc(2026, 11, 1), [synth.chunk(99)])
    result = PruneJob(PruneOptions(repository=repository.location, vm="web01", keep_last=1)).run()
    assert [p["id"] for p in result["vms"][web[0]["vm"]["instance_uuid"]]["removed"]] == [web[0]["id"]]
    assert result["gc"]["chunks_removed"] == 1  # web01's first point's own chunk, and nothing of db01's
    assert repository.verify(db, deep=True) == [] and synth.image(repository, db) == synth.chunk(99)


def test_two_points_of_one_second_are_in_the_order_they_were_taken(repo):
    """Their ids' suffixes are random: the later point may have the smaller id, and was once taken for the older
    (restore_point latest then named the wrong point). time_precise orders them."""
    for point_id, precise in (("20261207T074849Z-f4fe93", "2026-12-07T07:48:49.100000Z"),
                              ("20261207T074849Z-eb2c65", "2026-12-07T07:48:49.900000Z")):
        writer, manifest = _point(repo, [os.urandom(CHUNK)], "2026-12-07T07:48:49Z", point_id)
        writer.commit(dict(manifest, time_precise=precise))
    assert [m["id"] for m in repo.points.list(VM)] == ["20261207T074849Z-f4fe93", "20261207T074849Z-eb2c65"]
    assert repo.points.find(VM, "latest")["id"] == "20261207T074849Z-eb2c65"
