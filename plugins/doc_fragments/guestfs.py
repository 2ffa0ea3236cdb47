# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The options of the modules that read a point's guest file systems through a private export and libguestfs.
    DOCUMENTATION = r'''
options:
  backend_settings:
    description:
      - libguestfs backend settings for its appliance, for example C([force_tcg]) where qemu fails with KVM.
      - When not given (and E(LIBGUESTFS_BACKEND_SETTINGS) is not set), libguestfs's defaults are tried first
        and, if the appliance does not start, C(force_tcg) (software emulation) with a warning.
    type: list
    elements: str
  exports_dir:
    description: Where the private exports keep their records and logs while the module runs.
    type: path
    default: ~/.vadp/exports
'''
