# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM's NVRAM file (EFI variables; an EFI VM does not boot without its own), saved with a backup
and put back into a recreated VM. No Ansible imports."""

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.datastore_files import split_datastore_path, transfer


def download_nvram(client, vm, datacenter_name):
    """The VM's NVRAM file through the datastore HTTP interface (None when it has none)."""
    datastore, relative = split_datastore_path(nvram_path(vm.config))
    status, data = transfer(client, "GET", datacenter_name, datastore, relative)
    if status == 404:
        return None
    if status != 200:
        raise OSError("downloading the NVRAM file %s failed: HTTP %s" % (relative, status))
    return data


def nvram_path(config):
    """The datastore path of a VM's NVRAM file: extraConfig 'nvram', else vSphere's default name."""
    nvram = [o.value for o in config.extraConfig or [] if o.key == "nvram"]
    name = nvram[0] if nvram else config.name + ".nvram"
    if name.startswith("["):
        return name
    datastore, relative = split_datastore_path(config.files.vmPathName)
    folder = relative.rsplit("/", 1)[0] if "/" in relative else ""
    return "[%s] %s" % (datastore, folder + "/" + name if folder else name)


def upload_nvram(client, vm, datacenter_name, data):
    """Write the NVRAM file where the VM looks for it (before its first power-on)."""
    datastore, relative = split_datastore_path(nvram_path(vm.config))
    status, _body = transfer(client, "PUT", datacenter_name, datastore, relative, body=data)
    if status not in (200, 201, 204):
        raise OSError("uploading the NVRAM file %s failed: HTTP %s" % (relative, status))
