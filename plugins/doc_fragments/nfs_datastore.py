# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The options of module_base.nfs_datastore_argument_spec(), for every module that serves a point as an NFS datastore.
    DOCUMENTATION = r'''
options:
  nfs_address:
    description:
      - The address NFS-Ganesha listens on - one of this host's, which the ESXi hosts reach on port O(nfs_port).
      - Every datastore of this host is served on one address and port.
    type: str
    default: 127.0.0.1
  nfs_port:
    description: The NFS port. ESXi mounts NFS on 2049 only; other ports are for clients that can choose (tests).
    type: int
    default: 2049
  nfs_clients:
    description:
      - The addresses or networks (CIDR) that may mount the datastore - the ESXi hosts' VMkernel ports. The disks are
        writable, so beyond a loopback O(nfs_address) this is required (C(NFS_CLIENTS_REQUIRED)).
    type: list
    elements: str
    default: []
  datastores_dir:
    description: Where served datastores keep their state, overlays and served folders (plan space for the VMs' writes).
    type: path
    default: ~/.vadp/datastores
'''
