# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vCenter roles (AuthorizationManager): made, brought to a list of privileges, or removed,
each only when it differs. No Ansible imports.
"""

from typing import List, Optional

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError

# every vCenter role holds these; vCenter adds them, so they never make a role differ
SYSTEM_PRIVILEGES = frozenset(("System.Anonymous", "System.View", "System.Read"))


def _role(content, name: str):
    return next((r for r in content.authorizationManager.roleList if r.name == name), None)


def _summary(role, privileges: List[str]) -> dict:
    return {"name": role.name if role else None, "id": role.roleId if role else None, "privileges": privileges}


def ensure_role(content, name: str, privileges: Optional[List[str]], present: bool, dry_run: bool) -> dict:
    """{changed, role: {name, id, privileges}} after making the role `name` hold exactly privileges
    (and vCenter's system ones), or removing it (a role in use is refused by vCenter)."""
    manager, role = content.authorizationManager, _role(content, name)
    if not present:
        if role is None:
            return {"changed": False, "role": _summary(None, [])}
        if role.system:
            raise InvalidSettingsError("%s is one of vCenter's own roles, which cannot be removed" % name)
        if not dry_run:
            manager.RemoveAuthorizationRole(roleId=role.roleId, failIfUsed=True)
        return {"changed": True, "role": _summary(None, [])}
    wanted = sorted(set(privileges) - SYSTEM_PRIVILEGES)
    if role is not None and role.system:
        raise InvalidSettingsError("%s is one of vCenter's own roles, which cannot be changed: choose another name" % name)
    if role is not None and sorted(set(role.privilege) - SYSTEM_PRIVILEGES) == wanted:
        return {"changed": False, "role": _summary(role, wanted)}
    if not dry_run:
        if role is None:
            manager.AddAuthorizationRole(name=name, privIds=wanted)
        else:
            manager.UpdateAuthorizationRole(roleId=role.roleId, newName=name, privIds=wanted)
        role = _role(content, name)
    return {"changed": True, "role": _summary(role, wanted)}
