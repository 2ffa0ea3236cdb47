"""A randomized restore check: seeded scenarios run through vmdk_restore against the lab, each
compared with a reference model of what the disk must hold afterwards.

The model is a bytearray per disk and a few lines of rules; the product's answer is the disk as
the lab reads it (`lab inspect`, through the simulator's own disk model, not through VDDK). A
scenario draws, from its seed alone:
- a disk capacity in whole KiB, rarely a multiple of 64 KiB or 1 MiB, thin, lazy- or eager-zeroed;
- random old content on the target (and a target sometimes larger than the source);
- a source: a point of a chain of restore points with random changes (zeros included), a raw
  image (sometimes unaligned or shorter than the disk), a third-party chain of incrementals
  (sometimes with areas off the 512-byte sectors), or the VM's own backups taken by vm_backup
  with CBT between guest writes (the point's image is the disk as the lab held it then);
- a mode (full, fresh onto a new disk, or changed_only back to one of the VM's own backups), a
  transport (nbd, nbdssl, hotadd, or san with its restore snapshot on an eager-zeroed disk, which
  the VM's own backups refuse: CBT is on), a repository chunk size;
- sometimes a VDDK write failure followed by a re-run, which must then complete exactly.
A refusal is right only where the model expects one, and must leave the disk as it was.

`python tests/integration/restore_model.py SEED` replays one scenario (under `lab run`).
"""
import hashlib
import json
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SECTOR, KIB, MIB = 512, 1024, 1 << 20
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from modules import run_module  # noqa: E402


class Scenario:
    """Everything one seed decides, drawn up front so a seed always means the same scenario."""

    def __init__(self, seed):
        r = random.Random(seed)
        self.seed = seed
        self.capacity = r.randrange(256, 24 * 1024) * KIB  # whole KiB: what capacityInKB can express
        if r.random() < 0.15:
            self.capacity = self.capacity // MIB * MIB or MIB
        self.provisioning = r.choice(["thin", "thin", "lazy", "eager"])
        self.target_extra = r.choice([0, 0, 0, r.randrange(1, 64) * KIB])  # a grown target disk
        self.source = r.choice(["point", "point", "point", "raw", "chain", "backup", "backup"])
        self.mode = "fresh" if self.source == "point" and r.random() < 0.25 else "full"
        if self.source == "backup" and r.random() < 0.5:
            self.mode = "changed_only"
        transports = ["nbd", "nbdssl", "hotadd"] + (["san"] if self.provisioning == "eager" else [])
        self.transport = r.choice(transports)
        self.chunk_size = r.choice([64 * KIB, 256 * KIB, MIB, 4 * MIB])
        self.fail_write = r.choice([None, None, None, r.randrange(1, 6)])
        self.short_source = r.choice(["refuse", "zero_rest", "keep_rest"])
        self.rng = r

    def describe(self):
        return ("seed %d: %d bytes (+%d on the target), %s, source %s, mode %s, transport %s, chunks %d, fail write %s"
                % (self.seed, self.capacity, self.target_extra, self.provisioning, self.source, self.mode,
                   self.transport, self.chunk_size, self.fail_write))

    def areas(self, capacity, count, max_length, aligned=True):
        """Random (offset, length) areas inside capacity; aligned ones on sectors."""
        result = []
        for _i in range(count):
            length = self.rng.randrange(1, max_length + 1)
            offset = self.rng.randrange(0, max(1, capacity - length))
            if self.rng.random() < 0.3:  # the disk's very end, where partial chunks and short sources meet
                offset = max(0, capacity - length)
            if aligned:
                offset, length = offset // SECTOR * SECTOR, max(SECTOR, length // SECTOR * SECTOR)
            result.append((offset, min(length, capacity - offset)))
        return result

    def data(self, length):
        kind = self.rng.random()
        if kind < 0.2:
            return bytes(length)  # zeros: old data must not survive them
        if kind < 0.4:
            return bytes([self.rng.randrange(1, 256)]) * length  # compressible
        return self.rng.randbytes(length)


def apply(model, offset, data):
    model[offset:offset + len(data)] = data


def digest(model):
    return hashlib.sha256(bytes(model)).hexdigest()


# --- the source a scenario restores ------------------------------------------------------

def build_points(s, folder, vm_key):
    """A repository with 1-4 points of one disk, each a logical full: the previous image with
    random changes. Returns (repository path, the chosen point's id, its image)."""
    sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.index import DiskIndex
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
    repository = Repository.create(os.path.join(folder, "repo"), chunk_size=s.chunk_size)
    image = bytearray(s.capacity)
    images, ids = [], []
    for number in range(s.rng.randrange(1, 5)):
        for offset, length in s.areas(s.capacity, s.rng.randrange(1, 6), max(SECTOR, s.capacity // 8)):
            apply(image, offset, s.data(length))
        count = -(-s.capacity // s.chunk_size)
        entries = [repository.chunks.put(bytes(image[i * s.chunk_size:(i + 1) * s.chunk_size]))[0] for i in range(count)]
        point_id = "20261201T%06dZ-%06x" % (number, s.seed % 0xFFFFFF)
        writer = repository.points.begin(vm_key, point_id)
        index = writer.write_file("disk-2000.index", DiskIndex(s.chunk_size, s.capacity, entries).to_bytes())
        writer.commit({"type": "full", "parent": None, "time": "2026-12-01T00:00:%02dZ" % number,
                       "vm": {"name": "model-source", "instance_uuid": vm_key},
                       "disks": [{"key": 2000, "label": "Hard disk 1", "capacity_bytes": s.capacity, "index": index,
                                  "vddk_metadata": {"toolsVersion": "12352", "thinProvisioned": "1"},
                                  "change_id": None}]})
        images.append(bytes(image))
        ids.append(point_id)
    chosen = s.rng.randrange(len(ids))
    return repository.location, ids[chosen], images[chosen]


def build_raw(s, folder):
    """A raw image: (path, its bytes, refusal expected or None)."""
    size = s.capacity if s.rng.random() < 0.5 else s.rng.randrange(1, s.capacity // SECTOR) * SECTOR
    if s.rng.random() < 0.15:
        size -= s.rng.randrange(1, SECTOR)  # not whole sectors
    image = bytearray(size)
    for offset, length in s.areas(size, s.rng.randrange(1, 5), max(SECTOR, size // 6), aligned=False):
        apply(image, offset, s.data(length))
    path = os.path.join(folder, "image.raw")
    with open(path, "wb") as f:
        f.write(image)
    return path, bytes(image)


def build_chain(s, folder):
    """A third-party chain (full + incrementals, packed or sparse), merged by the model newest-wins:
    (description path, the merged image, whether some area is off the sectors)."""
    full = bytearray(s.capacity)
    for offset, length in s.areas(s.capacity, 3, max(SECTOR, s.capacity // 6)):
        apply(full, offset, s.data(length))
    with open(os.path.join(folder, "full.raw"), "wb") as f:
        f.write(full)
    merged, unaligned, incrementals = bytearray(full), False, []
    for number in range(s.rng.randrange(1, 4)):
        aligned = s.rng.random() > 0.15
        unaligned = unaligned or not aligned
        areas = []
        for area in sorted(s.areas(s.capacity, s.rng.randrange(1, 4), max(SECTOR, s.capacity // 10), aligned=aligned)):
            if not areas or area[0] >= areas[-1][0] + areas[-1][1]:  # disjoint, as CBT reports them
                areas.append(area)
        s.rng.shuffle(areas)  # a packed file follows its list's order, sorted or not
        layout = s.rng.choice(["packed", "sparse"])
        name = "inc%d.%s" % (number, layout)
        if layout == "packed":
            payload = b"".join(s.data(n) for _o, n in areas)
            position = 0
            for offset, length in areas:
                apply(merged, offset, payload[position:position + length])
                position += length
        else:
            payload = bytearray(s.capacity)
            for offset, length in areas:
                chunk = s.data(length)
                apply(payload, offset, chunk)
                apply(merged, offset, chunk)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(payload)
        incrementals.append({"data": name, "layout": layout, "extents": [list(a) for a in areas]})
    path = os.path.join(folder, "chain.json")
    with open(path, "w") as f:
        json.dump({"capacity": s.capacity, "full": "full.raw", "incrementals": incrementals}, f)
    return path, bytes(merged), unaligned


def build_backups(s, lab, vm, name, flat, folder):
    """1-3 backups of the VM by vm_backup (CBT on), the guest writing before each and, mostly,
    after the last: (repository path, the chosen point's id, its image as the lab's disk held it)."""
    from conftest import wait

    def guest_writes():
        for offset, length in s.areas(s.capacity, s.rng.randrange(1, 5), max(SECTOR, s.capacity // 6)):
            lab.guest_write(name, offset=offset, length=length, seed=s.rng.randrange(1 << 30))

    wait(vm.PowerOnVM_Task())
    assert not run_module("vm_cbt", {"name": name, "state": "enabled"}).get("failed")
    repository, points = os.path.join(folder, "repo"), []
    for _number in range(s.rng.randrange(1, 4)):
        guest_writes()
        backup = run_module("vm_backup", {"name": name, "repository": repository, "chunk_size": s.chunk_size,
                                          "state_dir": os.path.join(folder, "backup-state")})
        assert not backup.get("failed"), "%s: %s" % (s.describe(), backup.get("msg"))
        with open(flat, "rb") as f:
            points.append((backup["point_id"], f.read()))
    if s.rng.random() < 0.8:  # otherwise the restore has nothing to do
        guest_writes()
    wait(vm.PowerOffVM_Task())
    point_id, image = points[s.rng.randrange(len(points))]
    return repository, point_id, image


# --- the run ------------------------------------------------------------------------------

def run_scenario(seed, lab, si, workdir):
    """Run one scenario; raise AssertionError (with the seed) when the disk differs from the model."""
    from conftest import create_vm, destroy_vm, wait
    s = Scenario(seed)
    name = "model-%d" % seed
    folder = os.path.join(workdir, str(seed))
    os.makedirs(folder)
    target_capacity = s.capacity + s.target_extra
    # an empty disk, as the model starts: no guest OS installed (the model's VMs are never booted)
    vm = create_vm(si, name, [target_capacity / MIB], thin=s.provisioning == "thin", eager=s.provisioning == "eager",
                   bootable=False)
    try:
        disk_file = [d for d in vm.config.hardware.device if hasattr(d, "capacityInKB")][0].backing.fileName
        model = bytearray(target_capacity)
        flat = lab.disk_file(name, disk_file).replace(".vmdk", "-flat.vmdk")
        if s.mode != "fresh":  # old data on the target, written as a guest would have left it
            with open(flat, "r+b") as f:
                for offset, length in s.areas(target_capacity, s.rng.randrange(1, 6), max(SECTOR, target_capacity // 5)):
                    data = s.rng.randbytes(length)
                    f.seek(offset)
                    f.write(data)
                    apply(model, offset, data)
        assert lab.inspect(name)["disks"][0]["sha256"] == digest(model), "%s: the old content did not land" % s.describe()

        args = {"name": name, "transport": s.transport, "mode": s.mode, "state_dir": os.path.join(folder, "state")}
        refusal = None
        if s.source == "backup":
            args["repository"], args["restore_point"], image = build_backups(s, lab, vm, name, flat, folder)
            with open(flat, "rb") as f:
                model = bytearray(f.read())  # what the guest left after the backups
            if s.transport == "san":
                refusal = "SAN_NOT_POSSIBLE"  # the VM's own backups need CBT, and SAN cannot write with it on
        before = digest(model)
        if s.source == "backup":
            if refusal is None:
                model = bytearray(image)  # the whole disk as it was backed up
        elif s.source == "point":
            args["repository"], args["restore_point"], image = build_points(s, folder, "model-%d-source" % seed)
            args["source_vm"] = "model-%d-source" % seed
            apply(model, 0, image)  # fresh mode only runs on a new disk, whose zeros the point's zeros match
        else:
            if s.source == "raw":
                path, image = build_raw(s, folder)
                args["raw_images"] = {"scsi0:0": path}
                unaligned = len(image) % SECTOR != 0
            else:
                path, image, unaligned = build_chain(s, folder)
                args["chains"] = {"scsi0:0": path}
            args["short_source"] = s.short_source
            if unaligned:
                refusal = "SOURCE_UNALIGNED"
            elif len(image) < target_capacity and s.short_source == "refuse":
                refusal = "SOURCE_TOO_SMALL"
            else:
                apply(model, 0, image)
                if s.short_source == "zero_rest":
                    apply(model, len(image), bytes(target_capacity - len(image)))
        snapshot = None
        if s.transport == "san":
            snapshot = wait(vm.CreateSnapshot_Task("restore", "", False, False))
            args["snapshot"] = snapshot._moId

        if s.fail_write and refusal is None:
            failed = run_module("vmdk_restore", args, env={"VDDK_DOUBLE_FAIL_WRITE": str(s.fail_write)})
            written = failed.get("failed") and failed.get("changed")
            assert failed.get("failed") or failed.get("disks"), "%s: %s" % (s.describe(), failed)
            if failed.get("failed"):
                assert failed["error_code"] == "TRANSFER_FAILED", "%s: %s" % (s.describe(), failed.get("msg"))
                assert written == ("PARTIALLY RESTORED" in failed["msg"]), "%s: %s" % (s.describe(), failed["msg"])
        result = run_module("vmdk_restore", args)
        if snapshot is not None:  # SAN wrote the base beneath the restore snapshot: revert, then remove it
            wait(snapshot.RevertToSnapshot_Task())
            wait(snapshot.RemoveSnapshot_Task(removeChildren=False))
        got = lab.inspect(name)["disks"][0]["sha256"]
        if refusal:
            assert result.get("failed") and result.get("error_code") == refusal, "%s: expected %s, got %s" % (
                s.describe(), refusal, result.get("error_code") or "success")
            assert not result.get("changed") and got == before, "%s: a refusal changed the disk" % s.describe()
        else:
            assert not result.get("failed"), "%s: %s (%s)" % (s.describe(), result.get("msg"), result.get("error_code"))
            assert got == digest(model), "%s: the disk differs from the model" % s.describe()
    finally:
        destroy_vm(vm)
    return s


def main():
    sys.path.insert(0, HERE)
    from conftest import LabAccess
    lab = LabAccess()
    si = lab.connect()
    with tempfile.TemporaryDirectory() as workdir:
        for seed in map(int, sys.argv[1:]):
            print(run_scenario(seed, lab, si, workdir).describe(), "- exact")


if __name__ == "__main__":
    main()
