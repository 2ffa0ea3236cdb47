#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: restore_point_info
short_description: List, show and verify the restore points in a repository
description:
  - Lists the restore points of a repository (all VMs, or one), shows one point, and verifies
    points - C(quick) checks the manifests, the indexes (structure and checksum) and that every
    chunk they name exists; C(deep) also reads every chunk and re-hashes its data. Problems name
    the point, the disk and the byte offset.
  - Works from the repository alone, without vCenter (a disaster recovery may start with an empty
    vCenter). It accepts the connection options so that C(module_defaults) for the
    C(vadp.vsphere.vsphere) group apply to it as to every module.
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options:
  repository:
    description: The repository's folder, or V(s3://bucket/prefix) for one in object storage (O(s3)).
    type: path
    required: true
  vm:
    description: Only the points of this VM, by name or instance uuid.
    type: str
  restore_point:
    description:
      - Show this point (an id, C(latest), C(clean) - the newest neither marked suspicious nor found infected by its
        last scan - or an ISO 8601 time meaning the last point at or before it). Needs O(vm).
    type: str
  verify:
    description:
      - Verify the listed points (or the one shown) - C(none), C(quick) or C(deep).
      - Without O(vm), the whole repository is checked, and RV(unreferenced_chunks) counts the chunks no point
        references (what vadp.vsphere.repository_prune would free).
    type: str
    default: none
    choices: [none, quick, deep]
  space:
    description:
      - Space accounting - per point, the stored bytes of the chunks it references (C(referenced_bytes)) and of the
        chunks only it references (C(unique_bytes) - what removing it would free); per repository, RV(repository).
      - Reads every index of every point in the repository.
    type: bool
    default: false
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
attributes:
  check_mode:
    support: full
    description: Read-only.
'''

EXAMPLES = r'''
- name: Verify every point of web01 deeply
  vadp.vsphere.restore_point_info:
    repository: /backups/vsphere
    vm: web01
    verify: deep
  register: points
  failed_when: not points.verified_ok

- name: The point a restore "as of last night 23:00" would use
  vadp.vsphere.restore_point_info:
    repository: /backups/vsphere
    vm: web01
    restore_point: "2026-11-24T23:00:00Z"
'''

RETURN = r'''
points:
  description:
    - The points, oldest first.
    - C(logical_bytes) is the size of the point's disks; C(stored_bytes) what its backup added to the repository;
      C(protected) whether prune keeps it whatever the policy (vadp.vsphere.restore_point); C(future) whether it
      is dated more than 5 minutes after this host's clock (a backup host's clock is ahead) - such a point is never
      C(latest) and stops a prune of its VM; C(immutable_until) the date before which nobody can delete it
      (vadp.vsphere.vm_backup's O(vadp.vsphere.vm_backup#module:immutable_days)), or null.
    - C(suspicious) whether its backup marked it as ransomware at work would look, with C(suspicious_reasons) (the
      figures; vadp.vsphere.vm_backup's O(vadp.vsphere.vm_backup#module:anomaly)); C(scan) the last
      vadp.vsphere.restore_point_scan of it (C(time), C(rules), C(matches), C(complete)) or null. A point neither
      suspicious nor with matches is what restore_point V(clean) selects.
    - With O(space), also C(referenced_bytes) and C(unique_bytes).
  returned: always
  type: list
  elements: dict
  sample: [{id: 20261124T210000Z-a1b2c3, time: "2026-11-24T21:00:00Z", type: full, parent: null, vm: web01,
            instance_uuid: 5003c1c4-1d4c-7a3e-2a7f-9c2a1d3e4f50, logical_bytes: 42949672960, stored_bytes: 8123456,
            protected: false, future: false, immutable_until: null, suspicious: false, suspicious_reasons: [], scan: null,
            referenced_bytes: 8123456, unique_bytes: 1048576}]
point:
  description: The manifest of the point O(restore_point) selects (without the saved configuration).
  returned: when restore_point is given
  type: dict
verified_ok:
  description: Whether verification found no problem (true when nothing was verified).
  returned: always
  type: bool
  sample: true
damaged_points:
  description:
    - Points whose manifest exists but cannot be used (damaged, copied from another point or VM, or of a format version
      this collection does not read) - the VM's folder key (instance uuid), the point, why and its C(error_code). They
      are left out of RV(points); verification lists them in RV(problems) too.
    - A restore, export or prune of such a VM stops with C(POINT_DAMAGED) (C(TAMPERED) in an encrypted repository)
      rather than fall back to an older point.
  returned: always
  type: list
  elements: dict
  sample: [{vm_key: 5003c1c4-1d4c-7a3e-2a7f-9c2a1d3e4f50, point: 20261124T210000Z-a1b2c3,
            problem: the manifest ... is damaged, error_code: POINT_DAMAGED}]
problems:
  description:
    - What verification found - point, disk (device key, null for a whole manifest), offset (bytes, null for a whole
      index or manifest) and problem.
  returned: always
  type: list
  elements: dict
  sample: [{point: 20261124T210000Z-a1b2c3, disk: 2000, offset: 4194304, problem: chunk 9f86... is damaged}]
repository:
  description: The whole repository's points, distinct chunks, logical bytes (all points' disks), stored bytes (all chunks) and their ratio.
  returned: when space is true
  type: dict
  sample: {points: 30, chunks: 51200, logical_bytes: 1288490188800, stored_bytes: 64424509440, dedup_ratio: 20.0}
unreferenced_chunks:
  description:
    - Chunks no point references - their count, and the first 20 names.
    - Null when a manifest or an index could not be read (RV(problems) names it), since its chunks would be counted as
      unreferenced.
  returned: when verify is not none and vm is not given
  type: dict
  sample: {count: 0, names: []}
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.point_info import PointInfo, PointInfoOptions
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import VsphereModule, repository_access_argument_spec


class RestorePointInfoModule(VsphereModule):
    needs_vcenter = False

    def __init__(self):
        super().__init__(argument_spec=dict(
            repository=dict(type="path", required=True),
            **repository_access_argument_spec(),
            vm=dict(type="str"),
            restore_point=dict(type="str"),
            verify=dict(type="str", default="none", choices=["none", "quick", "deep"]),
            space=dict(type="bool", default=False),
        ), supports_check_mode=True, required_by={"restore_point": "vm"})

    def execute(self, client):
        return PointInfo(self.options(PointInfoOptions)).run(self.module.check_mode)


def main():
    RestorePointInfoModule().run()


if __name__ == "__main__":
    main()
