# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding snapshots anywhere in a VM's snapshot tree, and what a failed removal means.
No Ansible imports."""

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import (
    CIDMismatchError,
    SnapshotAmbiguousError,
    SnapshotNotFoundError,
)


def all_snapshots(vm):
    """Every node of the snapshot tree, every branch, parents before children."""
    nodes = []
    pending = list(vm.snapshot.rootSnapshotList) if vm.snapshot is not None else []
    while pending:
        node = pending.pop(0)
        nodes.append(node)
        pending = list(node.childSnapshotList or []) + pending
    return nodes


def find_snapshot(vm, name=None, moref=None, required=False):
    """The one snapshot with that moref or name; None when there is none (unless required).
    Several with the name is an error listing them: give the moref."""
    if moref:
        matches = [n for n in all_snapshots(vm) if n.snapshot._moId == moref]
        described = "moref %s" % moref
    else:
        matches = [n for n in all_snapshots(vm) if n.name == name]
        described = "name %r" % name
    if len(matches) > 1:
        raise SnapshotAmbiguousError(
            "%s has %d snapshots with %s: %s. Give snapshot_moref to choose one." % (
                vm.name, len(matches), described, ", ".join(
                    "%s (created %s)" % (n.snapshot._moId, n.createTime.isoformat()) for n in matches)),
            details={"matches": [summary(n) for n in matches]})
    if not matches:
        if required:
            raise SnapshotNotFoundError("%s has no snapshot with %s." % (vm.name, described))
        return None
    return matches[0]


def summary(node):
    return {"name": node.name, "moref": node.snapshot._moId, "id": node.id,
            "created": node.createTime.isoformat() if node.createTime else None, "description": node.description}


def cid_mismatch_advice(vm, snapshot_name, task_error):
    """A removal that failed because the parent disk changed under the snapshot (a SAN restore
    writes the base disk) becomes an error that says what to do; other failures pass."""
    text = str(task_error)
    if "content ID" not in text and "CID mismatch" not in text:
        return task_error
    return CIDMismatchError(
        "Removing snapshot %r of %s failed on a CID mismatch: its base disk was written after the snapshot was "
        "taken (a SAN-mode restore does this), so vSphere cannot merge the snapshot's delta into it. The snapshot "
        "is still there. Revert to it first (temp_snapshot state: reverted), then remove it. vSphere said: %s" % (
            snapshot_name, vm.name, text), details=task_error.details)
