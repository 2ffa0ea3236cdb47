# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS trust for vCenter connections and the server certificate's thumbprints.

VDDK needs the thumbprint of the server certificate. It is only worth passing on when it came from
a connection that was verified under the user's trust settings, so ``server_thumbprints`` says
whether it was. No Ansible imports.
"""

import hashlib
import socket
import ssl

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import (
    ConnectionFailedError,
    TlsVerificationError,
)

TRUST_HINT = ("Trust the vCenter's CA with the ca_bundle option (or the VMWARE_CA_BUNDLE environment "
              "variable), or set validate_certs to false to skip verification (not recommended).")


def make_ssl_context(validate_certs, ca_bundle=None):
    """An SSL context: the system's trust store plus ``ca_bundle`` when validating, none otherwise."""
    if not validate_certs:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context()
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise TlsVerificationError("Cannot load the CA bundle %s given in ca_bundle: %s" % (ca_bundle, exc))
    return context


def tls_failure(host, port, exc):
    """The error for a failed certificate check, naming the options that fix it."""
    reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
    return TlsVerificationError(
        "TLS verification of %s:%s failed (validate_certs is true): %s. %s" % (host, port, reason, TRUST_HINT))


def colon_hex(digest):
    return ":".join("%02X" % b for b in bytearray(digest))


def certificate_thumbprints(der_certificate):
    """SHA-1 and SHA-256 thumbprints in VMware's colon-separated upper-case hex."""
    return {
        "sha1": colon_hex(hashlib.sha1(der_certificate).digest()),
        "sha256": colon_hex(hashlib.sha256(der_certificate).digest()),
    }


def server_thumbprints(host, port, validate_certs, ca_bundle=None, timeout=15):
    """Fetch the server certificate and return its thumbprints and whether it was verified.

    With validate_certs the certificate comes from a connection verified against the trust
    settings (chain and host name); a failure raises instead of returning an unchecked value.
    """
    context = make_ssl_context(validate_certs, ca_bundle)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        raise tls_failure(host, port, exc)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectionFailedError("Cannot fetch the TLS certificate of %s:%s: %s" % (host, port, exc))
    result = certificate_thumbprints(der)
    result["verified"] = bool(validate_certs)
    return result
