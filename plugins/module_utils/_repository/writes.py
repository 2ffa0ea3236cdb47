# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing the repository's files and folders: _files.py's writes, with a full or read-only file
system raised as the repository's own error (errors.storage_error). No Ansible imports."""

import os

from ansible_collections.vadp.vsphere.plugins.module_utils import _files
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import storage_error


def write_new_file(path, data, mode=0o600):
    try:
        _files.write_new_file(path, data, mode)
    except OSError as exc:
        raise storage_error(exc, path) or exc


def write_atomically(path, data, mode=0o600):
    try:
        _files.write_atomically(path, data, mode)
    except OSError as exc:
        raise storage_error(exc, path) or exc


def makedirs(path, mode):
    """Create path and any missing parents with mode (os.makedirs gives parents the umask's)."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise storage_error(exc, folder) or exc
        os.chmod(folder, mode)
