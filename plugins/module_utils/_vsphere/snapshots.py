# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding snapshots anywhere in a VM's snapshot tree, what a failed removal means, and one
temp_snapshot state applied to a VM (SnapshotChange). No Ansible imports."""

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import (
    CIDMismatchError,
    SnapshotAmbiguousError,
    SnapshotNotFoundError,
    TaskFailedError,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import DEFAULT_TASK_TIMEOUT, wait_for_task


def all_snapshots(vm):
    """Every node of the snapshot tree, every branch, parents before children."""
    nodes = []
    tree = vm.snapshot  # read once: each read is a request to vCenter
    pending = list(tree.rootSnapshotList) if tree is not None else []
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


class SnapshotChange:
    """One temp_snapshot state applied to a VM: create (present), revert (reverted), remove one
    (absent) or all (absent_all), each waiting at most timeout seconds per vCenter task and
    consolidating the disks where vSphere says they need it. run() returns what was done."""

    def __init__(self, vm, name=None, moref=None, timeout=DEFAULT_TASK_TIMEOUT, check_mode=False):
        self.vm, self.name, self.moref, self.timeout, self.check_mode = vm, name, moref, timeout, check_mode
        self.result = {"snapshot": None, "removed": [], "consolidated": False, "changed": False}

    def run(self, state, description="", memory=False, quiesce=False):
        if state == "present":
            self._present(description, memory, quiesce)
        else:
            getattr(self, "_" + state)()
        return self.result

    def _wait(self, task):
        return wait_for_task(task, timeout=self.timeout)

    def _find(self, required=False):
        return find_snapshot(self.vm, name=self.name, moref=self.moref, required=required)

    def _present(self, description, memory, quiesce):
        node = self._find()
        if node is not None:
            self.result["snapshot"] = summary(node)
            return
        self.result["changed"] = True
        if self.check_mode:
            self.result["snapshot"] = {"name": self.name, "moref": None, "id": None, "created": None,
                                       "description": description}
            return
        created = self._wait(self.vm.CreateSnapshot_Task(self.name, description, memory, quiesce))
        self.result["snapshot"] = summary(find_snapshot(self.vm, moref=created._moId, required=True))

    def _reverted(self):
        node = self._find(required=True)
        self.result.update(snapshot=summary(node), changed=True)
        if not self.check_mode:
            self._wait(node.snapshot.RevertToSnapshot_Task())

    def _absent(self):
        node = self._find()
        if node is None:
            return
        self.result.update(snapshot=summary(node), removed=[summary(node)], changed=True)
        if not self.check_mode:
            self._remove(node.snapshot.RemoveSnapshot_Task(removeChildren=False, consolidate=True), node.name)

    def _absent_all(self):
        nodes = all_snapshots(self.vm)
        if not nodes:
            return
        self.result.update(removed=[summary(n) for n in nodes], changed=True)
        if not self.check_mode:
            self._remove(self.vm.RemoveAllSnapshots_Task(consolidate=True), "(all)")

    def _remove(self, task, what):
        try:
            self._wait(task)
        except TaskFailedError as exc:
            raise cid_mismatch_advice(self.vm, what, exc)
        if self.vm.runtime.consolidationNeeded:
            self._wait(self.vm.ConsolidateVMDisks_Task())
            self.result["consolidated"] = True
