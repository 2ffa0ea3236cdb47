# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who may read a repository's key file. Apart from crypto.py so that every module can warn of an
exposed key without importing the cryptography library at start. No Ansible imports.
"""

import os
from typing import Optional


def key_file_exposure(path: str) -> Optional[str]:
    """A warning when other users than the key file's owner may read it (whoever reads it reads
    every point), else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # said when the key is read
    if not mode & 0o077:
        return None
    return ("the repository key file %s can be read or written by other users than its owner (mode %04o): whoever reads "
            "it reads every point. Run: chmod 600 %s" % (path, mode & 0o7777, path))
