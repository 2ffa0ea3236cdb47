# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""This machine as vCenter sees it: the VM it is, if any, found as VDDK's HotAdd transport finds
its backup proxy, by the BIOS UUID of this machine's SMBIOS. No Ansible imports.
"""

import uuid as uuidlib
from typing import Optional

SMBIOS_UUID = "/sys/class/dmi/id/product_uuid"  # readable by root only


def read_bios_uuid(path: str = SMBIOS_UUID) -> Optional[str]:
    """This machine's BIOS UUID, or None where it cannot be read (not root, no SMBIOS: a container)."""
    try:
        with open(path) as f:
            return f.read().strip().lower() or None
    except OSError:
        return None


def find_proxy_vm(content, bios_uuid: str):
    """The VM of this vCenter whose BIOS UUID (config.uuid) is bios_uuid, or None. The first three
    fields are also tried byte-swapped: SMBIOS before 2.6 stored them little-endian, and older VMs'
    guests report them so."""
    try:
        given = uuidlib.UUID(bios_uuid)
    except ValueError:
        return None
    for candidate in (given, uuidlib.UUID(bytes_le=given.bytes)):
        found = content.searchIndex.FindByUuid(uuid=str(candidate), vmSearch=True)
        if found is not None:
            return found
    return None
