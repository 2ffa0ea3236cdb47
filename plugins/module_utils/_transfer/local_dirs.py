# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where transfers keep their state and locks on this machine. A file of its own so that modules
which only name these folders (vm_info, the host slots) do not import the data mover. No Ansible
imports.
"""

import os
import tempfile


def default_state_dir(name):
    """Where a transfer keeps its plan, checkpoint and progress when state_dir is not given."""
    return os.path.join(os.environ.get("HOME") or tempfile.gettempdir(), ".vadp", "transfers", name)


def default_lock_dir():
    """Where the per-VM transfer locks live on this machine."""
    return os.path.join(os.environ.get("HOME") or tempfile.gettempdir(), ".vadp", "locks")
