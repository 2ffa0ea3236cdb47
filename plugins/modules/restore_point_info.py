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
    description: The repository's folder.
    type: path
    required: true
  vm:
    description: Only the points of this VM, by name or instance uuid.
    type: str
  restore_point:
    description: Show this point (an id, C(latest), or an ISO 8601 time meaning the last point at or before it). Needs O(vm).
    type: str
  verify:
    description: Verify the listed points (or the one shown) - C(none), C(quick) or C(deep).
    type: str
    default: none
    choices: [none, quick, deep]
extends_documentation_fragment:
  - vadp.vsphere.connection
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
  description: The points, oldest first.
  returned: always
  type: list
  elements: dict
  sample: [{id: 20261124T210000Z-a1b2c3, time: "2026-11-24T21:00:00Z", type: full, parent: null, vm: web01,
            instance_uuid: 5003c1c4-1d4c-7a3e-2a7f-9c2a1d3e4f50, logical_bytes: 42949672960, stored_bytes: 8123456}]
point:
  description: The manifest of the point O(restore_point) selects (without the saved configuration).
  returned: when restore_point is given
  type: dict
verified_ok:
  description: Whether verification found no problem (true when nothing was verified).
  returned: always
  type: bool
  sample: true
problems:
  description: What verification found - point, disk (device key), offset (bytes, null for a whole index) and problem.
  returned: always
  type: list
  elements: dict
  sample: [{point: 20261124T210000Z-a1b2c3, disk: 2000, offset: 4194304, problem: chunk 9f86... is damaged}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vadp.vsphere.plugins.module_utils.repository.store import PointNotFoundError, Repository, RepositoryError
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import connection_argument_spec


def _summary(manifest):
    return {"id": manifest["id"], "time": manifest["time"], "type": manifest["type"], "parent": manifest.get("parent"),
            "vm": manifest["vm"]["name"], "instance_uuid": manifest["vm"]["instance_uuid"],
            "logical_bytes": sum(d["capacity_bytes"] for d in manifest["disks"]),
            "stored_bytes": sum(d.get("stats", {}).get("stored_bytes", 0) for d in manifest["disks"])}


def main():
    spec = connection_argument_spec()
    spec.update(repository=dict(type="path", required=True), vm=dict(type="str"), restore_point=dict(type="str"),
                verify=dict(type="str", default="none", choices=["none", "quick", "deep"]))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, required_by={"restore_point": "vm"})
    p = module.params
    try:
        repository = Repository(p["repository"])
        manifests = [m for m in repository.manifests()
                     if not p["vm"] or p["vm"] in (m["vm"]["name"], m["vm"]["instance_uuid"])]
        result = {"changed": False, "points": [_summary(m) for m in manifests]}
        checked = manifests
        if p["restore_point"] is not None:
            try:
                chosen = repository.find_point(repository.vm_key(p["vm"], option="vm"), p["restore_point"])
            except PointNotFoundError as exc:
                module.fail_json(msg=exc.message, error_code=exc.error_code, **result)
            result["point"] = {k: v for k, v in chosen.items() if k != "config"}
            checked = [chosen]
        problems = []
        if p["verify"] != "none":
            for manifest in checked:
                problems += repository.verify(manifest, deep=p["verify"] == "deep")
        result.update(problems=problems, verified_ok=not problems)
    except RepositoryError as exc:
        module.fail_json(msg=exc.message, error_code=exc.error_code)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
