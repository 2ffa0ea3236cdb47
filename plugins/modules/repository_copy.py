#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: repository_copy
short_description: Copy restore points to a second repository (another folder, host or bucket)
description:
  - Copies the points of a repository into a second one - folder to bucket, bucket to folder, bucket to bucket or
    folder to folder - so that a copy survives the loss of the backup host or its site (the "1 off site" of 3-2-1).
  - Per point, only the chunks the target lacks are sent. Each is checked before it leaves (a damaged source chunk is
    never sent on as good) and read back from the target and checked on arrival; then the point's indexes and NVRAM,
    and its manifest last, so the target never shows a point that is not whole.
  - A copy stopped at any moment (killed, a dead endpoint, a full disk) leaves the target sound; run it again and it
    goes on where it stopped. Points the target has already are left as they are.
  - Objects are copied as they are stored, so encrypted points stay encrypted end to end. A new target becomes a copy
    of the source's settings (chunk size, encryption); an existing target must have the same ones, else
    C(REPOSITORY_MISMATCH). Chunks are never decrypted to be copied.
  - An encrypted source copies without its key as well (a sealed copy, for a copy host that must never hold the key)
    - points are then chosen by their folders (O(vm) must be the VM's instance uuid, RV(points_copied) names VMs by
    it), every chunk the target lacks is sent (which chunks a point needs is inside its encrypted indexes), and each is
    checked on arrival against its stored checksum (its content is authenticated when a key holder reads it).
    O(resync_corrupt) and O(remove_vanished) need the key.
  - The run holds a shared lease on the source (backups and restores go on beside it, prunes wait) and a shared one on
    the target, or an exclusive one with O(remove_vanished).
  - Works from the repositories alone, without vCenter.
version_added: 0.3.0
author:
  - vadp.vsphere team (@vadp)
options:
  repository:
    description: The source repository - a folder, or V(s3://bucket/prefix) (reached with O(s3)).
    type: path
    required: true
  target:
    description:
      - The repository to copy into - a folder, or V(s3://bucket/prefix) (reached with O(target_s3), else O(s3)). A new
        (empty) one is made a copy of the source's settings.
    type: path
    required: true
  target_s3:
    description: How to reach a target in object storage, as O(s3) does for the source; O(s3) when left out.
    type: dict
    suboptions:
      endpoint_url: {description: The endpoint of an S3-compatible server., type: str}
      region: {description: The bucket's region., type: str}
      access_key: {description: The access key id., type: str}
      secret_key: {description: The secret access key., type: str}
      session_token: {description: A session token., type: str}
      profile: {description: A profile of the AWS configuration files., type: str}
      ca_bundle: {description: A PEM file of the certificate authorities to trust., type: path}
  vm:
    description: Only the points of this VM (its name at backup time or its instance uuid); else every VM.
    type: str
  transfer_last:
    description: Only the newest N points of each VM (as PBS's C(transfer-last)); V(0) copies every point.
    type: int
    default: 0
  resync_corrupt:
    description:
      - Also check, in the target, every chunk of the points it has already, and send again the ones missing or
        damaged there (as PBS's C(resync-corrupt)). Reads every such chunk of the target.
    type: bool
    default: false
  remove_vanished:
    description:
      - Remove from the target the points of the copied VMs that the source no longer has (pruned there), never a
        protected point nor one whose retention lock has not ended (each named in a warning). Their chunks stay until
        the target's next vadp.vsphere.repository_prune.
    type: bool
    default: false
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
  - vadp.vsphere.repository_lease
attributes:
  check_mode:
    support: full
    description: Returns which points would be copied, are present already, and would be removed; writes nothing.
notes:
  - An immutable point (vadp.vsphere.vm_backup's O(vadp.vsphere.vm_backup#module:immutable_days)) is locked in the
    target until the same date, where the target can lock (a bucket with Object Lock, a hardened folder); elsewhere it
    is copied unlocked, with a warning. A sealed copy cannot read the dates and copies points unlocked, with a warning
    for each locked one.
seealso:
  - module: vadp.vsphere.repository_prune
  - module: vadp.vsphere.restore_point_info
'''

EXAMPLES = r'''
- name: Copy every point of the backup host's repository to a bucket off site
  vadp.vsphere.repository_copy:
    repository: /backups/vsphere
    target: s3://offsite-backups/vsphere
    target_s3:
      endpoint_url: https://s3.dr.example.com
      profile: offsite

- name: Keep the newest 7 points of web01 on a second NFS share, and drop what the first one pruned
  vadp.vsphere.repository_copy:
    repository: /backups/vsphere
    target: /mnt/second-site/vsphere
    vm: web01
    transfer_last: 7
    remove_vanished: true
'''

RETURN = r'''
points_copied:
  description:
    - The points copied (check mode - that would be), oldest first - id, VM name and time.
    - In a sealed copy C(vm) is the VM's instance uuid and the points are in order within each VM.
  returned: always
  type: list
  elements: dict
  sample: [{id: 20261201T210000Z-a1b2c3, vm: web01, time: "2026-12-01T21:00:00Z"}]
points_present:
  description: The selected points the target had already (left as they are, checked with O(resync_corrupt)).
  returned: always
  type: list
  elements: dict
  sample: []
points_removed:
  description: With O(remove_vanished), the target's points removed (check mode - that would be).
  returned: always
  type: list
  elements: dict
  sample: []
chunks_sent:
  description: Chunks sent to the target (each checked on arrival).
  returned: always
  type: int
  sample: 1200
bytes_sent:
  description: Bytes sent, as stored (compressed, encrypted).
  returned: always
  type: int
  sample: 3221225472
chunks_resent:
  description: With O(resync_corrupt), chunks found missing or damaged in the target and sent again.
  returned: always
  type: int
  sample: 0
sealed:
  description: Whether the copy ran without the key of an encrypted source (see the description).
  returned: always
  type: bool
  sample: false
damaged_points:
  description: Points of the source whose manifest cannot be read - not copied, and named in a warning.
  returned: always
  type: list
  elements: dict
  sample: []
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.copy import CopyJob, CopyOptions
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VsphereModule,
    repository_access_argument_spec,
    repository_lease_argument_spec,
)


class RepositoryCopyModule(VsphereModule):
    needs_vcenter = False

    def __init__(self):
        access = repository_access_argument_spec()
        super().__init__(argument_spec=dict(
            repository=dict(type="path", required=True),
            target=dict(type="path", required=True),
            target_s3=access["s3"],
            **access,
            **repository_lease_argument_spec(),
            vm=dict(type="str"),
            transfer_last=dict(type="int", default=0),
            resync_corrupt=dict(type="bool", default=False),
            remove_vanished=dict(type="bool", default=False),
        ), supports_check_mode=True)

    def execute(self, client):
        return CopyJob(self.options(CopyOptions), warn=self.module.warn).run(self.module.check_mode)


def main():
    RepositoryCopyModule().run()


if __name__ == "__main__":
    main()
