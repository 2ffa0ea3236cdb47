# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a recreated VM goes and what that place offers: datacenter, folder, host or cluster and
resource pool; its datastores, networks, hardware versions and SAN LUNs (QueryConfigTarget).
No Ansible imports."""


try:
    from pyVmomi import vim
except ImportError:
    pass  # VsphereClient reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VsphereError
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.lookup import (
    collect_properties,
    find_by_name,
    find_datacenter,
    find_folder,
)


class PlacementError(VsphereError):
    error_code = "PLACEMENT_INVALID"


def find_vm_folder(content, datacenter_name=None, folder_path=None):
    """(datacenter, VM folder): the named datacenter or the only one, the named folder or its VM folder."""
    if datacenter_name:
        datacenter = find_datacenter(content, datacenter_name)
    else:
        datacenters = [dc for dc, _p in collect_properties(content, vim.Datacenter, ["name"])]
        if len(datacenters) != 1:
            raise PlacementError("%d datacenters (%s): name one with datacenter" % (
                len(datacenters), ", ".join(sorted(dc.name for dc in datacenters))))
        datacenter = datacenters[0]
    folder = find_folder(content, folder_path, datacenter.name) if folder_path else datacenter.vmFolder
    return datacenter, folder


def find_placement(content, datacenter=None, folder=None, host=None, cluster=None, resource_pool=None):
    """{datacenter, folder, host (or None), resource_pool, compute} from names: host, cluster or
    resource_pool (a host or cluster also gives the pool), else the datacenter's only compute
    resource."""
    datacenter, folder = find_vm_folder(content, datacenter, folder)
    host = find_by_name(content, "host", host, datacenter.name) if host else None
    if resource_pool:
        pool = find_by_name(content, "resource_pool", resource_pool, datacenter.name)
        compute = pool.owner
    elif cluster:
        compute = find_by_name(content, "cluster", cluster, datacenter.name)
        pool = compute.resourcePool
    elif host is not None:
        compute, pool = host.parent, host.parent.resourcePool
    else:
        computes = [c for c, _p in collect_properties(content, vim.ComputeResource, ["name"], datacenter.hostFolder)]
        if len(computes) != 1:
            raise PlacementError("datacenter %s has %d hosts and clusters (%s): choose one with cluster, host or "
                                 "resource_pool" % (datacenter.name, len(computes), ", ".join(sorted(c.name for c in computes))))
        compute = computes[0]
        pool = compute.resourcePool
    if host is not None and host not in compute.host:
        raise PlacementError("host %s is not part of %s" % (host.name, compute.name))
    return {"datacenter": datacenter, "folder": folder, "host": host, "resource_pool": pool, "compute": compute}


def datastore_names(placement):
    hosts = [placement["host"]] if placement["host"] is not None else list(placement["compute"].host)
    return set(ds.name for h in hosts for ds in h.datastore)


def networks_of(datacenter):
    """{name or distributed port group key: {name, type, portgroup_key, switch_uuid}}."""
    networks = {}
    for network in datacenter.network:
        if isinstance(network, vim.dvs.DistributedVirtualPortgroup):
            entry = {"name": network.name, "type": "dvs", "portgroup_key": network.key,
                     "switch_uuid": network.config.distributedVirtualSwitch.uuid}
            networks[network.key] = entry
        else:
            entry = {"name": network.name, "type": "standard"}
        networks[network.name] = entry
    return networks


def _browser_and_host(placement):
    host = placement["host"] or (placement["compute"].host[0] if placement["compute"].host else None)
    return placement["compute"].environmentBrowser, host


def supported_versions(placement):
    """The hardware versions the target can create (vmx-NN)."""
    browser, _host = _browser_and_host(placement)
    return [d.key for d in browser.QueryConfigOptionDescriptor() or [] if d.createSupported]


class RdmError(VsphereError):
    error_code = "RDM_INVALID"


class LunNotFoundError(RdmError):
    error_code = "LUN_NOT_FOUND"


class LunInUseError(RdmError):
    error_code = "LUN_IN_USE"


def is_rdm(device):
    return isinstance(device, vim.vm.device.VirtualDisk) and isinstance(
        device.backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)


def lun_users(content, lun, this_vm=None):
    """The names of the VMs (other than this_vm) whose RDMs map the LUN."""
    users = []
    for other, props in collect_properties(content, vim.VirtualMachine, ["name", "config.hardware.device"]):
        if other == this_vm:
            continue
        if any(is_rdm(d) and d.backing.lunUuid == lun["uuid"] for d in props.get("config.hardware.device") or []):
            users.append(props["name"])
    return users


def placement_luns(placement):
    return config_target_luns(*_browser_and_host(placement))


def config_target_luns(browser, host):
    """{canonical name and ConfigTarget uuid: {canonical_name, uuid, capacity_bytes}}: the uuid an
    RDM needs is the one QueryConfigTarget reports, never the host's own."""
    luns = {}
    for entry in browser.QueryConfigTarget(host=host).scsiDisk or []:
        lun = {"canonical_name": entry.disk.canonicalName, "uuid": entry.disk.uuid,
               "capacity_bytes": entry.disk.capacity.block * entry.disk.capacity.blockSize}
        luns[lun["canonical_name"]] = luns[lun["uuid"]] = lun
    return luns
