# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM's network cards connected or disconnected, as vSphere's "Connect at power on" and
"Connected" settings (and whether the guest may change them). No Ansible imports.
"""

from typing import List

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import wait_for_task

try:
    from pyVmomi import vim
except ImportError:
    pass  # VsphereClient reports the missing library


def set_nics_connected(vm, connected: bool, timeout: int, check_mode: bool = False) -> List[str]:
    """Every card of vm connected at power-on (and now, if it runs), or none of them and not by
    the guest either; the labels of the cards changed (none: idempotent)."""
    running = vm.runtime.powerState == vim.VirtualMachinePowerState.poweredOn
    changes = []
    for card in vm.config.hardware.device:
        if not isinstance(card, vim.vm.device.VirtualEthernetCard):
            continue
        now = card.connectable
        if now is not None and now.startConnected == connected and now.allowGuestControl == connected and (
                not running or now.connected == connected):
            continue
        card.connectable = vim.vm.device.VirtualDevice.ConnectInfo(startConnected=connected, allowGuestControl=connected,
                                                                   connected=connected and running)
        changes.append(card)
    if changes and not check_mode:
        wait_for_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[
            vim.vm.device.VirtualDeviceSpec(operation="edit", device=card) for card in changes])), timeout=timeout)
    return [card.deviceInfo.label if card.deviceInfo else str(card.key) for card in changes]
