# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the worker reaches the VM's disks: the VDDK library and a connection made from the
client's settings, with the server's certificate thumbprint VDDK needs. No Ansible imports.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.host_slots import HostSlots
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.local_dirs import default_lock_dir
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.plan import ConnectParams, VddkLibrary
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.client import ConnectionSettings
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tls import server_thumbprints


TRANSPORT_MODES = ("san", "hotadd", "nbdssl", "nbd")
# A third of what an ESXi host's NFC memory serves (about 50 disks), which other products share.
DEFAULT_HOST_DISK_LIMIT = 16


@dataclasses.dataclass(frozen=True)
class VddkSettings:
    """The VDDK options every job that moves disk data takes (the modules' vddk_* options)."""
    libdir: Optional[str]
    config_file: Optional[str] = None
    transport: str = "nbdssl:nbd"
    thumbprint: Optional[str] = None  # SHA-1 of the server certificate; read from the server when not given
    host_disk_limit: int = DEFAULT_HOST_DISK_LIMIT  # disks moved at once per ESXi host from this machine; 0: no cap

    def __post_init__(self):
        # An empty list would let VDDK choose any mode, SAN included, past every check made for SAN.
        modes = (self.transport or "").split(":")
        if not all(m in TRANSPORT_MODES for m in modes) or len(set(modes)) != len(modes):
            raise InvalidSettingsError("transport %r is not a list of VDDK transport modes separated by colons: give one "
                                       "or more of %s, each once (such as hotadd:nbdssl:nbd)" % (
                                           self.transport, ", ".join(TRANSPORT_MODES)))


@dataclasses.dataclass(frozen=True)
class VddkTarget:
    """What a transfer plan needs to reach one VM: the library, the connection, the secrets for
    the worker's stdin, and a warning when the thumbprint could not be verified."""
    vddk: VddkLibrary
    connection: ConnectParams
    secrets: dict
    warning: Optional[str]


def vddk_target(settings: ConnectionSettings, vddk: VddkSettings, vm_moref: str, snapshot_ref: Optional[str] = None,
                read_only: bool = False) -> VddkTarget:
    if not vddk.libdir:
        raise InvalidSettingsError("vddk_libdir (or the VDDK_LIBDIR environment variable) must name the root of VMware's "
                                   "VDDK distribution, the folder that holds lib64")
    warning, thumbprint = None, vddk.thumbprint
    if not thumbprint:
        prints = server_thumbprints(settings.hostname, settings.port, settings.validate_certs, settings.ca_bundle)
        thumbprint = prints["sha1"]
        if not prints["verified"]:
            warning = ("The server certificate's thumbprint was taken without verifying it (validate_certs is false): "
                       "VDDK trusts %s. Give thumbprint, or a ca_bundle, to be sure." % thumbprint)
    connection = ConnectParams(server=settings.hostname, port=settings.port, user=settings.username, thumbprint=thumbprint,
                               vm_moref=vm_moref, snapshot_ref=snapshot_ref, transports=vddk.transport, read_only=read_only)
    return VddkTarget(VddkLibrary(vddk.libdir, vddk.config_file), connection, {"password": settings.password}, warning)


def host_slots(settings: ConnectionSettings, vddk: VddkSettings, vm) -> Optional[HostSlots]:
    """The transfer slots of the ESXi host that runs vm (None: no cap, or no host known)."""
    host = vm.runtime.host
    if not vddk.host_disk_limit or host is None:
        return None
    return HostSlots(default_lock_dir(), "%s-%s" % (settings.hostname, host._moId), vddk.host_disk_limit)
