# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ansible side of the client layer: shared argument specs and the base that every module
builds on. It turns the client's typed errors into ``fail_json(msg=..., error_code=...)``.
"""

import contextlib
import dataclasses
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.client import (
    HAS_PYVMOMI,
    ConnectionSettings,
    VsphereClient,
)
from ansible_collections.vadp.vsphere.plugins.module_utils.connection_spec import connection_argument_spec
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.key_file import key_file_exposure
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import DEFAULT_LEASE_TIMEOUT
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.connect import DEFAULT_HOST_DISK_LIMIT, VddkSettings
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.lookup import find_vm
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import permission_denied


def vm_identity_argument_spec():
    return dict(
        name=dict(type="str"),
        folder=dict(type="str"),
        uuid=dict(type="str"),
        use_instance_uuid=dict(type="bool", default=False),
        moid=dict(type="str"),
        datacenter=dict(type="str"),
    )


VM_IDENTITY_ONE_OF = [["name", "uuid", "moid"]]


def repository_lease_argument_spec():
    """How long a module waits for the repository's lease (doc fragment repository_lease)."""
    return dict(lock_timeout=dict(type="int", default=DEFAULT_LEASE_TIMEOUT))


def nfs_datastore_argument_spec():
    """Where and to whom this host serves points as NFS datastores (doc fragment nfs_datastore)."""
    return dict(nfs_address=dict(type="str", default="127.0.0.1"), nfs_port=dict(type="int", default=2049),
                nfs_clients=dict(type="list", elements="str", default=[]),
                datastores_dir=dict(type="path", default="~/.vadp/datastores"))


def repository_access_argument_spec():
    """The key of an encrypted repository, and how to reach one in object storage, for every module
    that opens one (doc fragments repository_key and repository_s3)."""
    return dict(
        # no_log=False: it is the key's path, not the key; masked, no message could say which file was wrong
        encryption_key_file=dict(type="path", no_log=False, fallback=(env_fallback, ["VADP_REPOSITORY_KEY_FILE"])),
        s3=dict(type="dict", options=dict(
            endpoint_url=dict(type="str"), region=dict(type="str"), profile=dict(type="str"), ca_bundle=dict(type="path"),
            access_key=dict(type="str", no_log=False),  # an identifier, shown by every S3 tool
            secret_key=dict(type="str", no_log=True), session_token=dict(type="str", no_log=True))),
    )


def point_disk_argument_spec(repository_required=True):
    """One disk of a restore point, for the modules that read it without vCenter (and hold a lease while they do)."""
    return dict(
        repository=dict(type="path", required=repository_required),
        **repository_access_argument_spec(),
        **repository_lease_argument_spec(),
        vm=dict(type="str"),
        restore_point=dict(type="str", default="latest"),
        disk=dict(type="str"),
    )


def placement_argument_spec():
    """Where a new VM goes, for the modules that create VMs."""
    return {option: dict(type="str") for option in ("datacenter", "folder", "cluster", "host", "resource_pool")}


def vddk_argument_spec(default_transports):
    """The options of every module that moves disk data through VDDK."""
    return dict(
        vddk_libdir=dict(type="path", fallback=(env_fallback, ["VDDK_LIBDIR"])),
        vddk_config=dict(type="path"),
        transport=dict(type="str", default=default_transports),
        thumbprint=dict(type="str"),
        state_dir=dict(type="path"),
        host_disk_limit=dict(type="int", default=DEFAULT_HOST_DISK_LIMIT),
    )


class VsphereModule:
    """Base of every module: an AnsibleModule with the connection options, a client made from
    them, and ``run`` that reports typed client errors with their error_code."""

    needs_vcenter = True  # False: a module that works on a repository alone (execute gets no client)

    def __init__(self, argument_spec, **kwargs):
        spec = connection_argument_spec()
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.module.params
        negative = sorted(k for k, v in self.params.items()
                          if k.endswith(("timeout", "_limit")) and isinstance(v, int) and v < 0)
        if negative:
            self.module.fail_json(msg="%s must not be negative" % ", ".join(negative), error_code="INVALID_ARGUMENT")
        if self.needs_vcenter and not HAS_PYVMOMI:
            self.module.fail_json(msg=missing_required_lib("pyvmomi"), error_code="MISSING_LIBRARY")

    def connect(self):
        p = self.params
        return VsphereClient(ConnectionSettings(
            hostname=p["hostname"], username=p["username"], password=p["password"], port=p["port"],
            validate_certs=p["validate_certs"], ca_bundle=p["ca_bundle"],
            proxy_host=p["proxy_host"], proxy_port=p["proxy_port"]))

    def find_vm(self, client):
        p = self.params
        return find_vm(client.content, name=p["name"], folder=p["folder"], uuid=p["uuid"],
                       use_instance_uuid=p["use_instance_uuid"], moid=p["moid"], datacenter=p["datacenter"])

    def vddk_settings(self):
        p = self.params
        return VddkSettings(p["vddk_libdir"], p["vddk_config"], p["transport"], p["thumbprint"], p["host_disk_limit"])

    def options(self, cls, **given):
        """An options dataclass of the core filled from the module's options of the same names; a field
        marked metadata={"option": False} (a caller's, not a user's) keeps its default."""
        return cls(**given, **{f.name: self.params[f.name] for f in dataclasses.fields(cls)
                               if f.name not in given and f.metadata.get("option", True)})

    def execute(self, client):
        """Do the module's work with a connected client; return the result dict."""
        raise NotImplementedError

    def run(self):
        exposed = key_file_exposure(self.params["encryption_key_file"]) if self.params.get("encryption_key_file") else None
        if exposed:
            self.module.warn(exposed)
        try:
            with self.connect() if self.needs_vcenter else contextlib.nullcontext() as client:
                result = self.execute(client)
        except VadpError as exc:
            self.module.fail_json(msg=exc.message, error_code=exc.error_code, **exc.details)
        except Exception as exc:  # noqa: BLE001 - an unexpected error still says what and where
            denied = permission_denied(exc)
            if denied:
                self.module.fail_json(msg=denied.message, error_code=denied.error_code, **denied.details)
            self.module.fail_json(msg="Unexpected error: %s: %s" % (type(exc).__name__, exc),
                                  error_code="INTERNAL_ERROR", exception=traceback.format_exc())
        self.module.exit_json(**result)
