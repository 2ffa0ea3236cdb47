# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The data mover's worker process: runs a transfer plan through VDDK.

Started by mover.DataMover with LD_LIBRARY_PATH=<libdir>/lib64 (VDDK brings its own libssl, and
the loader reads that variable only at process start) and the plan's path as its argument;
secrets arrive as JSON on stdin. The plan is checked again here (plan.TransferPlan.from_json)
before VDDK is loaded. Disks run in parallel up to a bound (disk_writer, disk_reader), with Open
and Close on the binding's one thread. Progress goes to the status file; the result, or the
error with its error_code and VDDK's last log lines, to stdout as JSON. No Ansible imports.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import remember
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.disk_reader import DiskReader
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.disk_writer import DiskWriter
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import PlanInvalidError, ReadDiskPlan, TransferPlan
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.progress import Checkpoint, Progress
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.vddk import VddkError, VixDiskLib

ACCESS_IDENTITY = "vadp.vsphere"  # PrepareForAccess/EndAccess: at most 50 characters


def _connect_params(plan: TransferPlan, secrets: dict):
    lib = VixDiskLib.load(plan.vddk.libdir, plan.vddk.config_file)
    c = plan.connection
    return lib, lib.connect_params(server=c.server, port=c.port, user=c.user, password=secrets.get("password"),
                                   cookie=secrets.get("cookie"), thumbprint=c.thumbprint, vm_moref=c.vm_moref)


def access(plan: TransferPlan, secrets: dict) -> dict:
    """PrepareForAccess or EndAccess alone, for a caller that brackets more than one transfer
    (a backup: before its snapshot is taken, after it is removed)."""
    _lib, params = _connect_params(plan, secrets)
    try:
        if plan.access == "prepare":
            params.prepare_for_access(ACCESS_IDENTITY)
        else:
            params.end_access(ACCESS_IDENTITY)
    finally:
        params.free()
    return {"failed": False, "status": None}


def _error_result(exc: BaseException) -> dict:
    text = str(exc) if isinstance(exc, (VddkError, OSError, VadpError)) else "%s: %s" % (type(exc).__name__, exc)
    return {"failed": True, "error": text, "vddk_error": getattr(exc, "name", None),
            "error_code": getattr(exc, "error_code", None)}


def _remember_repository(plan: TransferPlan, secrets: dict) -> None:
    """An encrypted repository's key and an object store's credentials come with the secrets,
    never in the plan file."""
    if secrets.get("repository_key") or secrets.get("repository_s3"):
        master = bytes.fromhex(secrets["repository_key"]) if secrets.get("repository_key") else None
        for disk in plan.disks:
            location = disk.repository if isinstance(disk, ReadDiskPlan) else getattr(disk.source, "path", None)
            if location:
                remember(location, master, secrets.get("repository_s3"))


def run(plan: TransferPlan, secrets: dict) -> dict:
    _remember_repository(plan, secrets)
    lib, params = _connect_params(plan, secrets)
    c = plan.connection
    checkpoint = Checkpoint(plan)
    progress = Progress(plan, checkpoint.done, vddk_calls=lib.calls)
    errors = []
    prepared = False
    try:
        if c.server:
            # what a killed earlier worker left (hot-added disks, mounts) is released before this one starts
            progress.cleanup = dict(zip(("cleaned", "remaining"), params.cleanup()))
        if c.vm_moref and not plan.access_managed:  # no Storage vMotion while the transfer runs
            params.prepare_for_access(ACCESS_IDENTITY)
            prepared = True
        connection = params.connect(read_only=c.read_only, snapshot_ref=c.snapshot_ref, transports=c.transports)
        try:
            slots = threading.Semaphore(plan.parallel_disks)

            def one(disk_plan):
                with slots:
                    try:
                        if isinstance(disk_plan, ReadDiskPlan):
                            DiskReader(plan, disk_plan, connection, progress).run()
                        else:
                            DiskWriter(plan, disk_plan, connection, progress, checkpoint).run()
                    except Exception as exc:  # noqa: BLE001 - collected and reported below
                        progress.set(disk_plan.id, state="failed", error=str(exc))
                        errors.append((disk_plan.id, exc))

            threads = [threading.Thread(target=one, args=(d,), name="mover-disk-%s" % d.id) for d in plan.disks]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            connection.disconnect()
            if c.server:
                params.cleanup()  # VDDK: Cleanup after Disconnect
    except Exception as exc:  # noqa: BLE001
        errors.append((None, exc))
    finally:
        if prepared:
            try:
                params.end_access(ACCESS_IDENTITY)
            except VddkError as exc:
                errors.append((None, exc))
        params.free()
    if errors:
        disk_id, exc = errors[0]
        result = _error_result(exc)
        if disk_id:
            result["error"] = "disk %s (%s): %s" % (disk_id, progress.disks[disk_id].path, result["error"])
        progress.finish("failed", result["error"])
        return dict(result, vddk_log=list(lib.recent_log)[-20:], checkpoint=checkpoint.done, status=progress.snapshot().to_json())
    checkpoint.remove()
    progress.finish("done")
    return {"failed": False, "status": progress.snapshot().to_json()}


def main() -> None:
    with open(sys.argv[1]) as f:
        value = json.load(f)
    secrets = json.loads(sys.stdin.read() or "{}")
    try:
        plan = TransferPlan.from_json(value)
        if plan.log:
            logging.basicConfig(filename=plan.log, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        result = access(plan, secrets) if plan.direction == "access" else run(plan, secrets)
    except (PlanInvalidError, VddkError) as exc:
        result = _error_result(exc)
    if VixDiskLib._instance is not None:
        VixDiskLib._instance.exit()  # VDDK: Exit at the end
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    os._exit(1 if result["failed"] else 0)  # not sys.exit: VDDK's threads must not hold the exit up


if __name__ == "__main__":
    main()
