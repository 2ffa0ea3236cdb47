# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pyVmomi session to vCenter or ESXi that survives long jobs.

``VsphereClient`` logs in, keeps the session alive from a background thread, and when vCenter
drops the session (``NotAuthenticated``: idle expiry, a restart, an administrator ending it) logs
in again and retries the call once. Errors are the typed ones of ``vsphere_errors``; the password
never appears in a message or a repr. No Ansible imports.
"""

import http.client
import socket
import ssl
import threading

try:
    from pyVmomi import vim, vmodl
    from pyVmomi.SoapAdapter import StubAdapterBase
    from pyVim.connect import SmartStubAdapter
    HAS_PYVMOMI = True
except ImportError:
    StubAdapterBase = object
    HAS_PYVMOMI = False

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ConnectionTimeoutError,
    InvalidSettingsError,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tls import make_ssl_context, tls_failure

# A TCP connect that takes longer than this means the host or port is wrong, not slow.
CONNECT_PROBE_TIMEOUT = 15
# Per-request socket timeout: generous, so a busy vCenter is waited for, but never infinite.
REQUEST_TIMEOUT = 300
# The API version discovery before login: a vCenter answers it at once, a wrong service never.
DISCOVERY_TIMEOUT = 60
# vCenter expires idle sessions after 30 minutes by default; ping well before that.
DEFAULT_KEEPALIVE_INTERVAL = 300


class ConnectionSettings:
    """What it takes to reach vCenter; the names are those of the modules' options."""

    def __init__(self, hostname, username, password, port=443, validate_certs=True, ca_bundle=None,
                 proxy_host=None, proxy_port=None, keepalive_interval=DEFAULT_KEEPALIVE_INTERVAL):
        self.hostname = hostname
        self.username = username
        self.password = password
        self.port = port
        self.validate_certs = validate_certs
        self.ca_bundle = ca_bundle
        self.proxy_host = proxy_host
        self.proxy_port = proxy_port
        self.keepalive_interval = keepalive_interval

    def __repr__(self):
        return "ConnectionSettings(hostname=%r, port=%r, username=%r, password=<hidden>)" % (
            self.hostname, self.port, self.username)

    def validate(self):
        missing = [(option, env) for option, env, value in (
            ("hostname", "VMWARE_HOST", self.hostname),
            ("username", "VMWARE_USER", self.username),
            ("password", "VMWARE_PASSWORD", self.password),
        ) if not value]
        if missing:
            raise InvalidSettingsError("Missing connection settings: %s." % ", ".join(
                "%s (or the %s environment variable)" % pair for pair in missing))
        if not 0 < int(self.port) < 65536:
            raise InvalidSettingsError("port must be between 1 and 65535, not %s." % self.port)
        if self.proxy_host and not self.proxy_port:
            raise InvalidSettingsError("proxy_host is set but proxy_port is not.")

    @property
    def endpoint(self):
        return "%s:%s" % (self.hostname, self.port)


class _ReloginStub(StubAdapterBase):
    """Wraps pyVmomi's SOAP stub: logs in on first use and once more after ``NotAuthenticated``.

    pyVmomi's own SessionOrientedStub also retries on socket errors, which could run a
    task-creating call twice; this one retries only calls vCenter refused unexecuted.
    """

    def __init__(self, soap_stub, login):
        StubAdapterBase.__init__(self, version=soap_stub.version)
        self.soap_stub = soap_stub
        self._login = login
        self._lock = threading.Lock()
        self._logged_in = False
        self.logins = 0

    def ensure_login(self):
        with self._lock:
            if not self._logged_in:
                self._login(self.soap_stub)
                self._logged_in = True
                self.logins += 1

    def _invoke(self, mo, info, args):
        self.ensure_login()
        return self.soap_stub.InvokeMethod(mo, info, args, self)

    def InvokeMethod(self, mo, info, args):
        status, result = self._invoke(mo, info, args)
        if status != 200 and isinstance(result, vim.fault.NotAuthenticated):
            with self._lock:
                self._logged_in = False
            status, result = self._invoke(mo, info, args)
        if status == 200:
            return result
        raise result

    def logout(self):
        with self._lock:
            if self._logged_in:
                vim.ServiceInstance("ServiceInstance", self.soap_stub).content.sessionManager.Logout()
                self._logged_in = False


class VsphereClient:
    """One authenticated session. Use as a context manager, or call ``close()``."""

    def __init__(self, settings):
        if not HAS_PYVMOMI:
            raise InvalidSettingsError("The pyvmomi Python library is required (pip install pyvmomi).")
        settings.validate()
        self.settings = settings
        self._stop_keepalive = threading.Event()
        self._keepalive_thread = None
        self._stub = self._connect()
        self.service_instance = vim.ServiceInstance("ServiceInstance", self._stub)
        self.content = self.service_instance.RetrieveContent()
        if settings.keepalive_interval:
            self._start_keepalive(settings.keepalive_interval)

    @property
    def logins(self):
        """How many times this client logged in (more than one after a dropped session)."""
        return self._stub.logins

    @property
    def session_cookie(self):
        """The session's cookie, for vSphere's HTTP interfaces (datastore files)."""
        return self._stub.soap_stub.cookie

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        self._stop_keepalive.set()
        try:
            self._stub.logout()
        except Exception:  # noqa: BLE001 - a failed logout must not hide the job's own result
            pass

    def _connect(self):
        settings = self.settings
        self._probe_tcp()
        context = make_ssl_context(settings.validate_certs, settings.ca_bundle)
        # pyVmomi's version discovery opens its connections without a timeout: a server that
        # accepts and never answers would hang the module forever. Its sockets take the default.
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DISCOVERY_TIMEOUT)
        try:
            soap_stub = SmartStubAdapter(
                host=settings.hostname, port=int(settings.port), sslContext=context,
                httpProxyHost=settings.proxy_host, httpProxyPort=settings.proxy_port or 80,
                httpConnectionTimeout=REQUEST_TIMEOUT)
        except (socket.timeout, TimeoutError) as exc:
            raise ConnectionTimeoutError("%s accepted the connection but did not answer the vSphere API's version "
                                         "discovery within %d s (%s): is it a vCenter or ESXi at that port?" % (
                                             settings.endpoint, DISCOVERY_TIMEOUT, _describe(exc)))
        except ssl.SSLCertVerificationError as exc:
            raise tls_failure(settings.hostname, settings.port, exc)
        except (OSError, ssl.SSLError, http.client.HTTPException, vmodl.MethodFault, ValueError) as exc:
            raise ConnectionFailedError("Cannot talk to the vSphere API at %s: %s" % (settings.endpoint, _describe(exc)))
        finally:
            socket.setdefaulttimeout(previous)

        stub = _ReloginStub(soap_stub, self._login_method())
        stub.ensure_login()
        return stub

    def _probe_tcp(self):
        settings = self.settings
        target = (settings.proxy_host, settings.proxy_port) if settings.proxy_host else (settings.hostname, int(settings.port))
        try:
            socket.create_connection(target, timeout=CONNECT_PROBE_TIMEOUT).close()
        except OSError as exc:
            via = " (through the proxy %s:%s)" % target if settings.proxy_host else ""
            raise ConnectionFailedError("Cannot connect to %s%s: %s. Check hostname and port." % (
                settings.endpoint, via, _describe(exc)))

    def _login_method(self):
        settings = self.settings

        def login(soap_stub):
            session_manager = vim.ServiceInstance("ServiceInstance", soap_stub).content.sessionManager
            try:
                session_manager.Login(settings.username, settings.password, None)
            except vim.fault.InvalidLogin as fault:
                raise AuthenticationError("Login to %s as %r failed: %s" % (
                    settings.endpoint, settings.username, fault.msg or "incorrect user name or password"))
            except (OSError, http.client.HTTPException) as exc:
                raise ConnectionFailedError("Lost the connection to %s while logging in: %s" % (
                    settings.endpoint, _describe(exc)))
        return login

    def _start_keepalive(self, interval):
        def ping():
            while not self._stop_keepalive.wait(interval):
                try:
                    self.service_instance.CurrentTime()
                except Exception:  # noqa: BLE001 - the next real call reports (and relogs in) itself
                    pass
        self._keepalive_thread = threading.Thread(target=ping, name="vsphere-keepalive", daemon=True)
        self._keepalive_thread.start()


def _describe(exc):
    if HAS_PYVMOMI and isinstance(exc, vmodl.MethodFault):
        return exc.msg or type(exc).__name__
    return str(exc) or type(exc).__name__
