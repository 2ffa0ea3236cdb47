# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NFS datastores on ESXi hosts: found by their server and path, mounted, unmounted. No Ansible imports."""

from __future__ import annotations

try:
    from pyVmomi import vim, vmodl
except ImportError:
    pass  # VsphereClient reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VsphereError


class NasMountError(VsphereError):
    error_code = "NFS_MOUNT_FAILED"


def find_nas(host, remote_host, remote_path):
    """The host's datastore that mounts remote_host:remote_path, or None."""
    for datastore in host.datastore:
        info = datastore.info
        if isinstance(info, vim.host.NasDatastoreInfo) and info.nas is not None and (
                info.nas.remoteHost, info.nas.remotePath.rstrip("/")) == (remote_host, remote_path.rstrip("/")):
            return datastore
    return None


def mount_nas(host, remote_host, remote_path, name):
    """Mount remote_host:remote_path on host as NFS 4.1 datastore name (read-write)."""
    spec = vim.host.NasVolume.Specification(remoteHost=remote_host, remotePath=remote_path, localPath=name,
                                            accessMode="readWrite", type="NFS41")
    try:
        return host.configManager.datastoreSystem.CreateNasDatastore(spec)
    except (vim.fault.HostConfigFault, vim.fault.DuplicateName, vim.fault.AlreadyExists) as exc:
        raise NasMountError("host %s could not mount %s:%s as datastore %s: %s (it needs TCP to %s port 2049)" % (
            host.name, remote_host, remote_path, name, exc.msg, remote_host))


def unmount_nas(datastore):
    """Unmount the datastore from every host that mounts it."""
    for mount in list(datastore.host or []):
        try:
            mount.key.configManager.datastoreSystem.RemoveDatastore(datastore)
        except vmodl.fault.ManagedObjectNotFound:
            pass  # unmounted meanwhile
