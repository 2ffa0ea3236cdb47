# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The options of module_base.placement_argument_spec(), for the modules that create VMs.
    DOCUMENTATION = r'''
options:
  datacenter:
    description: The datacenter; may be left out when there is only one.
    type: str
  folder:
    description: The VM folder, as an inventory path (C(/DC0/vm/restored)) or relative to the datacenter's VM folder.
    type: str
  cluster:
    description: The cluster to run the VM in (its root resource pool).
    type: str
  host:
    description: The ESXi host to place the VM on.
    type: str
  resource_pool:
    description: The resource pool, by name.
    type: str
'''
