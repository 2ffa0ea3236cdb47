# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encryption at rest (docs/restore-point-format.md, "Encryption"), built only from the
`cryptography` package's primitives: scrypt for a passphrase, HKDF-SHA256 for the sub-keys,
HMAC-SHA256 for chunk names, AES-256-GCM for chunks and for the point files. No Ansible imports.
"""

import hashlib
import hmac
import os
import re
from typing import Optional

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False

SEALED_MAGIC = b"VADPENC1"  # the first bytes of an encrypted manifest, index or NVRAM file
NONCE = 12
SCRYPT = {"n": 1 << 15, "r": 8, "p": 1}  # 32 MiB of memory per derivation
_RAW_KEY = re.compile(rb"^\s*([0-9a-fA-F]{64})\s*$")


class KeyRequiredError(VadpError):
    error_code = "KEY_REQUIRED"


class KeyWrongError(VadpError):
    error_code = "KEY_WRONG"


class TamperedError(VadpError):
    """An encrypted file fails authentication: changed, truncated, or moved from elsewhere."""
    error_code = "TAMPERED"


def _subkey(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"vadp " + purpose.encode()).derive(master)


def new_settings(key_file: str) -> dict:
    """The `encryption` entry of a new repository's repository.json for this key file: a raw
    key (64 hex digits) is used as it is; anything else is a passphrase, stretched with scrypt."""
    _require_library()
    text = _read_key_file(key_file)
    settings = {"cipher": "aes-256-gcm", "chunk_names": "hmac-sha256", "kdf": "raw" if _RAW_KEY.match(text) else "scrypt"}
    if settings["kdf"] == "scrypt":
        settings.update(salt=os.urandom(16).hex(), **SCRYPT)
    settings["key_check"] = hmac.new(_subkey(_master(text, settings), "check"), b"vadp key check", hashlib.sha256).hexdigest()
    return settings


def _require_library():
    if not HAS_CRYPTOGRAPHY:
        raise KeyRequiredError("an encrypted repository needs the Python package cryptography on the host that runs the module")


def _read_key_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as exc:
        raise KeyRequiredError("the repository key file %s cannot be read: %s" % (path, exc.strerror))
    if not text.strip():
        raise KeyRequiredError("the repository key file %s is empty" % path)
    return text


def _master(text: bytes, settings: dict) -> bytes:
    if settings["kdf"] == "raw":
        match = _RAW_KEY.match(text)
        if not match:
            raise KeyWrongError("this repository takes a raw key (64 hexadecimal digits); the key file holds something else")
        return bytes.fromhex(match.group(1).decode())
    return Scrypt(salt=bytes.fromhex(settings["salt"]), length=32, n=settings["n"], r=settings["r"],
                  p=settings["p"]).derive(text.rstrip(b"\r\n"))


class RepositoryKeys:
    """The sub-keys of one repository. Only the master key (or the key file) is a secret to pass
    on: a worker process rebuilds the sub-keys from it."""

    def __init__(self, master: bytes):
        self.master = master
        self._names = _subkey(master, "chunk names")
        self._data = AESGCM(_subkey(master, "chunk data"))
        self._files = AESGCM(_subkey(master, "point files"))

    @classmethod
    def open(cls, settings: dict, key_file: Optional[str], where: str) -> "RepositoryKeys":
        """Checked against the repository's key check before anything is read or written."""
        _require_library()
        if not key_file:
            raise KeyRequiredError("the repository %s is encrypted: give its key file (encryption_key_file, or the "
                                   "VADP_REPOSITORY_KEY_FILE environment variable)" % where)
        master = _master(_read_key_file(key_file), settings)
        check = hmac.new(_subkey(master, "check"), b"vadp key check", hashlib.sha256).hexdigest()
        if not hmac.compare_digest(check, settings["key_check"]):
            raise KeyWrongError("the key in %s is not the key of the repository %s" % (key_file, where))
        return cls(master)

    def chunk_name(self, data: bytes) -> str:
        return hmac.new(self._names, data, hashlib.sha256).hexdigest()

    def seal_chunk(self, name: str, payload: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._data.encrypt(nonce, payload, name.encode())

    def open_chunk(self, name: str, sealed: bytes) -> bytes:
        try:
            sealed = memoryview(sealed)
            return self._data.decrypt(sealed[:NONCE], sealed[NONCE:], name.encode())
        except InvalidTag:
            raise TamperedError("chunk %s fails authentication (changed, or not this repository's)" % name)

    def seal_file(self, relative_path: str, plain: bytes) -> bytes:
        """Bound to its place in the repository: a file moved to another point does not open."""
        nonce = os.urandom(NONCE)
        return SEALED_MAGIC + nonce + self._files.encrypt(nonce, plain, relative_path.encode())

    def open_file(self, relative_path: str, sealed: bytes) -> bytes:
        head = len(SEALED_MAGIC)
        if sealed[:head] != SEALED_MAGIC:
            raise TamperedError("%s is not encrypted, in an encrypted repository: it was replaced" % relative_path)
        try:
            return self._files.decrypt(sealed[head:head + NONCE], sealed[head + NONCE:], relative_path.encode())
        except InvalidTag:
            raise TamperedError("%s fails authentication (changed, truncated, or moved from another point)" % relative_path)
