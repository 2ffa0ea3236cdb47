# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing files so that a reader sees the old content or the new, never a part: the one way
every layer writes its state, plan, status, checkpoint, index and manifest files. No Ansible imports.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any, Union


def write_new_file(path: str, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Create path (it must not exist) with data; on any failure nothing of it is left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
    except BaseException:
        os.unlink(path)
        raise


def write_atomically(path: str, data: Union[bytes, str], mode: int = 0o600, durable: bool = True) -> None:
    """Replace path with data in one step. The temporary name is unique per call: threads of one
    process may write the same file at once (each disk's writer and the status thread do)."""
    temporary = "%s.tmp.%s" % (path, secrets.token_hex(6))
    write_new_file(temporary, data.encode() if isinstance(data, str) else data, mode, durable)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_json_atomically(path: str, value: Any, durable: bool = True) -> None:
    write_atomically(path, json.dumps(value), durable=durable)


def read_json(path: str, default: Any = None) -> Any:
    """The JSON in path, or default when it does not exist (yet) or is not JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default
