# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding inventory objects: VMs by moid, uuid or name (inside a folder), and datacenters,
clusters, hosts, resource pools, folders, datastores and networks by name.

A name or uuid that matches several objects is an error listing them all: a restore that picks
"the first match" can overwrite the wrong VM. No Ansible imports.
"""

import re

try:
    from pyVmomi import vim, vmodl
except ImportError:
    pass  # VsphereClient reports the missing library before any lookup runs

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import (
    AmbiguousObjectError,
    ObjectNotFoundError,
    VmAmbiguousError,
    VmNotFoundError,
)

_PAGE_SIZE = 1000
# vCenter keeps '%', '/' and '\\' in entity names escaped, so that inventory paths stay unambiguous
_ESCAPED_NAME_CHARACTER = re.compile(r"%(25|2[fF]|5[cC])")


def _name_matches(stored, wanted):
    return stored == wanted or entity_name(stored) == wanted


def entity_name(stored):
    """A name as the user typed it, from the form vCenter stores it in ('web%2f01' is 'web/01')."""
    return _ESCAPED_NAME_CHARACTER.sub(lambda m: {"25": "%", "2f": "/", "5c": "\\"}[m.group(1).lower()], stored or "")


def _vim_types():
    return {
        "datacenter": vim.Datacenter,
        "cluster": vim.ClusterComputeResource,
        "host": vim.HostSystem,
        "resource_pool": vim.ResourcePool,
        "folder": vim.Folder,
        "datastore": vim.Datastore,
        "network": vim.Network,
        "vm": vim.VirtualMachine,
    }


def collect_properties(content, vim_type, properties, container=None):
    """[(object, {property: value})] for every object of ``vim_type`` under ``container``, fetched
    with one PropertyCollector query (paged) instead of one round trip per object."""
    try:
        return _collect_through_view(content, vim_type, properties, container)
    except vmodl.fault.ManagedObjectNotFound as fault:
        # Views belong to the session: when vCenter dropped it mid-query and the client logged in
        # again, the view is gone. Build a new one once.
        if not isinstance(fault.obj, vim.view.ContainerView):
            raise
        return _collect_through_view(content, vim_type, properties, container)


def _collect_through_view(content, vim_type, properties, container):
    view = content.viewManager.CreateContainerView(container or content.rootFolder, [vim_type], True)
    try:
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(
                obj=view, skip=True,
                selectSet=[vmodl.query.PropertyCollector.TraversalSpec(
                    name="view", path="view", skip=False, type=vim.view.ContainerView)])],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim_type, pathSet=list(properties))])
        collector = content.propertyCollector
        options = vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=_PAGE_SIZE)
        page = collector.RetrievePropertiesEx([spec], options)
        rows = []
        while page is not None:
            for item in page.objects:
                rows.append((item.obj, {p.name: p.val for p in item.propSet or []}))
            page = collector.ContinueRetrievePropertiesEx(page.token) if page.token else None
        return rows
    finally:
        try:
            view.DestroyView()
        except vmodl.fault.ManagedObjectNotFound:
            pass  # went with its session


def inventory_path(entity):
    """'/DC0/vm/folder/name' for any managed entity (a VM in a vApp goes through the vApp)."""
    names = []
    current = entity
    while True:
        parent = current.parent
        if parent is None and isinstance(current, vim.VirtualMachine):
            parent = current.parentVApp
        if parent is None:  # the root folder is not part of inventory paths
            break
        names.append(current.name)
        current = parent
    return "/" + "/".join(reversed(names))


def folder_path_of(entity):
    """The inventory path of the folder (or vApp) holding ``entity``."""
    return inventory_path(entity).rsplit("/", 1)[0] or "/"


def normalize_folder(folder, datacenter=None):
    """'/DC0/vm/sub' from 'DC0/vm/sub/', or from 'vm/sub' and 'sub' when a datacenter is given."""
    path = "/".join(part for part in folder.split("/") if part)
    if datacenter:
        if path != datacenter and not path.startswith(datacenter + "/"):
            path = datacenter + "/" + (path if path == "vm" or path.startswith("vm/") else "vm/" + path)
    return "/" + path


def _vm_label(vm):
    return "%s (moid %s, folder %s)" % (vm.name, vm._moId, folder_path_of(vm))


def find_vm(content, name=None, folder=None, uuid=None, use_instance_uuid=False, moid=None, datacenter=None):
    """The one VM that matches; VmNotFoundError or VmAmbiguousError otherwise.

    Order as vmware.vmware: moid, then uuid (BIOS or instance), then name within an optional
    folder and datacenter.
    """
    if moid:
        vm = vim.VirtualMachine(moid, content.rootFolder._stub)
        try:
            vm.name
        except vmodl.fault.ManagedObjectNotFound:
            raise VmNotFoundError("No VM with moid %s." % moid)
        return vm

    container = find_datacenter(content, datacenter) if datacenter else None
    if uuid:
        prop = "config.instanceUuid" if use_instance_uuid else "config.uuid"
        wanted = uuid.lower()
        matches = [vm for vm, props in collect_properties(content, vim.VirtualMachine, [prop], container)
                   if (props.get(prop) or "").lower() == wanted]
        described = "%s uuid %s" % ("instance" if use_instance_uuid else "BIOS", uuid)
    elif name:
        matches = [vm for vm, props in collect_properties(content, vim.VirtualMachine, ["name"], container)
                   if _name_matches(props.get("name"), name)]
        described = "name %r" % name
        if folder:
            wanted_folder = normalize_folder(folder, datacenter)
            matches = [vm for vm in matches if folder_path_of(vm) == wanted_folder]
            described += " in folder %s" % wanted_folder
    else:
        raise VmNotFoundError("Identify the VM by name, uuid or moid.")

    where = " in datacenter %s" % datacenter if datacenter else ""
    if not matches:
        raise VmNotFoundError("No VM with %s%s." % (described, where))
    if len(matches) > 1:
        labels = sorted(_vm_label(vm) for vm in matches)
        raise VmAmbiguousError(
            "%d VMs have %s%s: %s. Give the folder or the moid to choose one."
            % (len(matches), described, where, "; ".join(labels)),
            details={"matches": [{"name": vm.name, "moid": vm._moId, "folder": folder_path_of(vm)}
                                 for vm in matches]})
    return matches[0]


def find_by_name(content, kind, name, datacenter=None):
    """The one object of ``kind`` (a key of the table in _vim_types) named ``name``."""
    vim_type = _vim_types()[kind]
    container = find_datacenter(content, datacenter) if datacenter and kind != "datacenter" else None
    matches = [obj for obj, props in collect_properties(content, vim_type, ["name"], container)
               if _name_matches(props.get("name"), name)]
    label = kind.replace("_", " ")
    if not matches:
        where = " in datacenter %s" % datacenter if container else ""
        raise ObjectNotFoundError("No %s named %r%s." % (label, name, where))
    if len(matches) > 1:
        raise AmbiguousObjectError("%d objects of type %s are named %r: %s." % (
            len(matches), label, name, "; ".join(sorted(inventory_path(m) for m in matches))))
    return matches[0]


def datacenter_of(entity):
    """The datacenter above an inventory object."""
    while entity is not None and not isinstance(entity, vim.Datacenter):
        entity = entity.parent
    return entity


def find_datacenter(content, name):
    return find_by_name(content, "datacenter", name)


def find_folder(content, path, datacenter=None):
    """A folder by its inventory path ('/DC0/vm/sub', or relative to the datacenter)."""
    wanted = normalize_folder(path, datacenter)
    for folder, _props in collect_properties(content, vim.Folder, ["name"]):
        if inventory_path(folder) == wanted:
            return folder
    raise ObjectNotFoundError("No folder at %s." % wanted)
