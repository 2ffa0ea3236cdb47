# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The options of module_base.point_disk_argument_spec(): POINT (vadp.vsphere.point_disk.point) for
    # every module that reads a point; DOCUMENTATION adds disk, for those that read one disk of it.
    POINT = r'''
options:
  repository:
    description: The repository - a folder, or V(s3://bucket/prefix).
    type: path
    required: true
  vm:
    description: The backed-up VM (its name at backup time or its instance uuid); needed unless O(restore_point) is a point id.
    type: str
  restore_point:
    description:
      - The point - an id, C(latest), C(clean) (the newest point neither marked suspicious nor found infected by its
        last scan), or an ISO 8601 time meaning the last point at or before it.
    type: str
    default: latest
'''

    DOCUMENTATION = r'''
options:
  disk:
    description: The disk's device key (as M(vadp.vsphere.restore_point_info) shows it); the point's first disk if not given.
    type: str
'''
