#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: repository_prune
short_description: Remove the restore points a retention policy does not keep, and free their chunks
description:
  - Applies a retention policy to the points of one VM or of every VM in a repository, removes the
    points it does not keep, then (O(gc)) deletes the chunks no remaining point references and what
    crashed runs left behind.
  - Each rule is applied on its own, newest point first, and a point kept by any rule stays. A period
    rule (O(keep_hourly) ... O(keep_yearly)) keeps the newest point of each period (UTC), for that many
    periods that have a point. A VM's newest point, and points protected with
    vadp.vsphere.restore_point, are never removed.
  - Every point is a logical full (its indexes name every chunk), so removing a point never breaks
    another, whatever its type or parent.
  - The run holds the repository's exclusive lease - it waits for running backups and restores to
    end (up to O(lock_timeout)), and backups and restores that start meanwhile wait for it. Leases
    work between hosts that share the repository (NFS); a crashed holder's lease stops counting
    five minutes after its last refresh.
  - Works from the repository alone, without vCenter. It accepts the connection options so that
    C(module_defaults) for the C(vadp.vsphere.vsphere) group apply to it as to every module.
version_added: 0.2.0
author:
  - vadp.vsphere team (@vadp)
options:
  repository:
    description: The repository's folder, or V(s3://bucket/prefix) for one in object storage (O(s3)).
    type: path
    required: true
  vm:
    description: Only the points of this VM (its name at backup time or its instance uuid); else every VM.
    type: str
  keep_last:
    description: Keep the newest N points.
    type: int
    default: 0
  keep_hourly:
    description: Keep the newest point of each of the last N hours that have one.
    type: int
    default: 0
  keep_daily:
    description: Keep the newest point of each of the last N days that have one.
    type: int
    default: 0
  keep_weekly:
    description: Keep the newest point of each of the last N ISO weeks that have one.
    type: int
    default: 0
  keep_monthly:
    description: Keep the newest point of each of the last N months that have one.
    type: int
    default: 0
  keep_yearly:
    description: Keep the newest point of each of the last N years that have one.
    type: int
    default: 0
  keep_within:
    description:
      - Keep every point taken within this long before the VM's newest point, such as C(30d), C(12h),
        C(2w), C(6m) or C(1y6m) (years, months, weeks, days, hours). Counted from the newest point, not
        from now, so a VM whose backups stopped keeps its last points.
      - A duration longer than the points' history (C(9999y), keep for ever) keeps every point; a zero one
        (C(0d)) is refused like a policy with no rule.
    type: str
  gc:
    description: After removing points, delete the chunks no remaining point references.
    type: bool
    default: true
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
  - vadp.vsphere.repository_lease
attributes:
  check_mode:
    support: full
    description: Returns the plan (which points go, which stay and by which rule, the bytes that would be freed); changes nothing and takes no lease.
notes:
  - A policy that names no rule is refused (C(RETENTION_INVALID)) - it would remove every point but the newest.
  - Period boundaries are UTC.
seealso:
  - module: vadp.vsphere.restore_point_info
  - module: vadp.vsphere.restore_point
'''

EXAMPLES = r'''
- name: Keep 7 daily, 4 weekly and 12 monthly points of every VM, and free the rest
  vadp.vsphere.repository_prune:
    repository: /backups/vsphere
    keep_daily: 7
    keep_weekly: 4
    keep_monthly: 12

- name: What would a 30-day window remove for web01?
  vadp.vsphere.repository_prune:
    repository: /backups/vsphere
    vm: web01
    keep_within: 30d
  check_mode: true
  register: plan

- name: Show it
  ansible.builtin.debug:
    msg: "{{ plan.vms | dict2items | map(attribute='value.removed') | flatten | map(attribute='id') }} would go, freeing {{ plan.gc.bytes_freed }} bytes"
'''

RETURN = r'''
vms:
  description:
    - Per VM (by instance uuid) - its name, the points kept (with the rules that keep each, in C(kept_by)) and the points
      removed.
    - A point whose retention lock has not ended is kept whatever the policy, C(kept_by) saying C(immutable until) its
      date (vadp.vsphere.vm_backup's O(vadp.vsphere.vm_backup#module:immutable_days)).
  returned: always
  type: dict
  sample: {5003c1c4-1d4c-7a3e-2a7f-9c2a1d3e4f50: {name: web01,
           kept: [{id: 20261201T210000Z-a1b2c3, time: "2026-12-01T21:00:00Z", type: incremental, kept_by: [newest, daily]}],
           removed: [{id: 20261101T210000Z-d4e5f6, time: "2026-11-01T21:00:00Z", type: full, kept_by: []}]}}
points_removed:
  description: How many points were (check mode - would be) removed.
  returned: always
  type: int
points_kept:
  description: How many points remain in the repository, all VMs counted.
  returned: always
  type: int
damaged_points:
  description:
    - Without O(vm), points whose manifest cannot be used (damaged, copied from elsewhere, or of an unknown format
      version) - the VM's folder key, the point, why and its C(error_code). Every point of their VM is kept, the other
      VMs are pruned, and a warning names them.
    - With O(vm), such a point of that VM stops the prune with C(POINT_DAMAGED) before anything is removed.
  returned: always
  type: list
  elements: dict
  sample: []
gc:
  description:
    - What garbage collection removed (check mode - would remove) - chunks and their bytes, temporary chunk files
      of crashed backups, and point folders without a manifest (unfinished backups) or half removed.
    - C(locked_kept) counts the files of those that a hardened repository folder keeps locked (immutable attribute),
      and C(locked_until) is the latest date among their locks; a later collection removes them. In a bucket with
      Object Lock a locked object is removed from view and the bucket keeps its version until its date.
    - Null when a point is damaged (RV(damaged_points)) - its chunks cannot be told from garbage, so none are removed.
  returned: when gc is true
  type: dict
  sample: {chunks_removed: 1200, bytes_freed: 3221225472, temporary_files_removed: 0, unfinished_points_removed: [],
           locked_kept: 0, locked_until: null}
stale_leases_removed:
  description: Leases of crashed runs that were found stale and removed.
  returned: when not in check mode
  type: list
  elements: str
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.prune import PruneJob, PruneOptions
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VsphereModule,
    repository_access_argument_spec,
    repository_lease_argument_spec,
)


class RepositoryPruneModule(VsphereModule):
    needs_vcenter = False

    def __init__(self):
        counts = {name: dict(type="int", default=0) for name in (
            "keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")}
        super().__init__(argument_spec=dict(
            repository=dict(type="path", required=True),
            **repository_access_argument_spec(),
            **repository_lease_argument_spec(),
            vm=dict(type="str"),
            keep_within=dict(type="str"),
            gc=dict(type="bool", default=True),
            **counts,
        ), supports_check_mode=True)

    def execute(self, client):
        return PruneJob(self.options(PruneOptions), warn=self.module.warn).run(self.module.check_mode)


def main():
    RepositoryPruneModule().run()


if __name__ == "__main__":
    main()
