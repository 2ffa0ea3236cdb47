#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: rdm_disk
short_description: Attach or detach a Raw Device Mapping (RDM) disk, with the LUN uuid vSphere accepts
description:
  - Looks the LUN up in the VM's C(QueryConfigTarget) - deviceName is the LUN's canonical name and
    lunUuid the uuid C(ConfigTarget.scsiDisk[].disk.uuid) reports. The uuid in the ESXi host's own storage config is a
    different value and makes the reconfiguration fail; given one, the module says so instead of trying.
  - Refuses a LUN another VM already maps, naming that VM (error_code C(LUN_IN_USE)).
  - Puts the disk on the SCSI controller and unit asked for, else on the first free unit, adding a ParaVirtual SCSI
    controller when every unit is taken.
  - Idempotent - the same LUN attached with the same settings is unchanged; the disk mode and sharing are changed in
    place; another compatibility mode is refused (detach and attach again). O(state=absent) removes the mapping file
    only, never the LUN's data. Check mode reports what would change.
version_added: 0.1.0
author:
  - vadp.vsphere team (@vadp)
options:
  lun:
    description: The LUN, by canonical name (C(naa.600...)) or by the uuid QueryConfigTarget reports.
    type: str
    required: true
  state:
    description: C(present) to attach, C(absent) to detach.
    type: str
    default: present
    choices: [present, absent]
  compatibility_mode:
    description: C(physicalMode) passes SCSI commands through (no snapshots of this disk); C(virtualMode) lets vSphere snapshot it.
    type: str
    default: physicalMode
    choices: [physicalMode, virtualMode]
  disk_mode:
    description: The disk mode (for virtualMode; physical mode RDMs are always independent of snapshots).
    type: str
    default: independent_persistent
    choices: [persistent, independent_persistent, independent_nonpersistent]
  sharing:
    description: C(sharingNone), or C(sharingMultiWriter) for clustered guests.
    type: str
    default: sharingNone
    choices: [sharingNone, sharingMultiWriter]
  controller:
    description: The SCSI controller, as C(scsiN) (its bus number). Default the first with a free unit.
    type: str
  unit_number:
    description: The unit on the controller (0-15 except 7). Default the first free one.
    type: int
  datastore:
    description: The datastore for the mapping file. Default the VM's own folder.
    type: str
  timeout:
    description: Seconds to wait for the reconfigure task.
    type: int
    default: 600
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.connection.vm_identity
attributes:
  check_mode:
    support: full
    description: Reports what would change without reconfiguring the VM.
'''

EXAMPLES = r'''
- name: Map the database LUN into db01, physical compatibility
  vadp.vsphere.rdm_disk:
    name: db01
    lun: naa.600a098038303053453f463045727a4f
    controller: scsi1
    unit_number: 0

- name: Detach it (the LUN's data stays)
  vadp.vsphere.rdm_disk:
    name: db01
    lun: naa.600a098038303053453f463045727a4f
    state: absent
'''

RETURN = r'''
vm:
  description: The VM.
  returned: always
  type: dict
disk:
  description: The RDM disk - key, label, address (C(scsi1:0)), lun, lun_uuid, compatibility_mode, disk_mode, sharing, file_name.
  returned: when state is present
  type: dict
  sample: {key: 2016, address: "scsi1:0", lun: naa.600a0980, lun_uuid: 0200000000600a0980, compatibility_mode: physicalMode}
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.rdm import RdmAttachment, RdmOptions
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VM_IDENTITY_ONE_OF,
    VsphereModule,
    vm_identity_argument_spec,
)


class RdmDiskModule(VsphereModule):
    def __init__(self):
        spec = vm_identity_argument_spec()
        spec.update(
            lun=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            compatibility_mode=dict(type="str", default="physicalMode", choices=["physicalMode", "virtualMode"]),
            disk_mode=dict(type="str", default="independent_persistent",
                           choices=["persistent", "independent_persistent", "independent_nonpersistent"]),
            sharing=dict(type="str", default="sharingNone", choices=["sharingNone", "sharingMultiWriter"]),
            controller=dict(type="str"),
            unit_number=dict(type="int"),
            datastore=dict(type="str"),
            timeout=dict(type="int", default=600),
        )
        super().__init__(argument_spec=spec, required_one_of=VM_IDENTITY_ONE_OF, supports_check_mode=True)

    def execute(self, client):
        return RdmAttachment(client, self.find_vm(client), self.options(RdmOptions)).run(self.module.check_mode)


def main():
    RdmDiskModule().run()


if __name__ == "__main__":
    main()
