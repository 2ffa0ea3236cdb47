# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What would make a job fail, found before the job changes anything: the user's privileges,
vCenter's certificate and clock, the VM's changed block tracking and its host's known CBT defects,
the repository. Each check is PASS, WARN or FAIL with one sentence on how to fix it; any FAIL fails
the preflight (PREFLIGHT_FAILED). No Ansible imports.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import os
import shutil
import socket
from typing import List, Optional

try:
    from pyVmomi import vim
except ImportError:
    pass  # VsphereClient reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError, PreflightFailedError, VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.backup_plan import select_disks
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.recreate import RecreateOptions, RecreateVm
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.locks import (
    CLOCK_SKEW_SECONDS,
    EXCLUSIVE,
    SHARED,
    describe,
    read_leases,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import is_remote, open_storage
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.lookup import datacenter_of
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.proxy import SMBIOS_UUID, find_proxy_vm, read_bios_uuid
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tls import server_thumbprints
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.privileges import (
    RECOVERY_JOBS,
    missing_privileges,
    DATASTORE,
    placement_objects,
    privileges_of,
    vm_objects,
)

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
CBT_HARDWARE = 7  # changed block tracking needs virtual hardware version 7 or later
NFC_PORT, NFC_TIMEOUT = 902, 5  # ESXi's NFC service, which VDDK's NBD and NBDSSL transports reach
DEFAULT_TRANSPORTS = {"backup": "hotadd:nbdssl:nbd"}  # the modules' defaults; nbdssl:nbd for the others
# ESXi releases with changed block tracking defects that lose changes silently: (major.minor, KB, what)
CBT_DEFECTS = (
    ("6.0", "KB 2136854", "changes written while a snapshot was being consolidated were lost; patch the host, then "
                          "take a new full backup"),
    ("6.0", "KB 2090639", "a disk grown across a 128 GB boundary returned wrong changed areas; reset CBT after growing "
                          "a disk"),
    ("5.", "KB 2090639", "a disk grown across a 128 GB boundary returned wrong changed areas; reset CBT after growing "
                         "a disk"),
)


@dataclasses.dataclass(frozen=True)
class PreflightOptions:
    job: str  # privileges.JOBS
    repository: Optional[str] = None
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None
    create: Optional[dict] = None  # a recovery or drill: what vm_create_from_configinfo would be given (RecreateOptions)
    vddk_libdir: Optional[str] = None
    transport: Optional[str] = None  # the job's VDDK transports, colon separated; the job's default when None
    bios_uuid: Optional[str] = None  # this machine's, for HotAdd; read from SMBIOS when None
    nics_connected: Optional[bool] = None  # a restore that sets the VM's network cards (false: disconnects them)


def _check(name: str, status: str, target: str, message: str) -> dict:
    return {"check": name, "status": status, "object": target, "message": message}


class PreflightJob:
    def __init__(self, client, vm, options: PreflightOptions):
        """vm: the VM a backup or restore works on; None for a recovery or a drill (options.create)."""
        self.client, self.vm, self.options = client, vm, options

    def run(self, check_mode: bool = False) -> dict:
        o, content = self.options, self.client.content
        privileges_of(o.job)  # an unknown job is refused first
        if o.job in RECOVERY_JOBS:
            target, objects, hosts = self._recovery_objects()
        else:
            target, objects, hosts = (self.vm.name, vm_objects(content, self.vm, edits_nics=o.nics_connected is not None),
                                      [self.vm.runtime.host])
        lacking = missing_privileges(content, o.job, objects)
        hosts = [h for h in hosts if h is not None]
        transports = (o.transport or DEFAULT_TRANSPORTS.get(o.job, "nbdssl:nbd")).split(":")
        hotadd = self._hotadd(transports, hosts, objects[DATASTORE])
        checks = self._privileges(lacking, target) + self._vcenter() + [self._vddk()] + hotadd + self._nfc(
            transports, hosts, hotadd_serves=any(c["status"] == PASS for c in hotadd))
        if o.job == "backup":
            checks += self._cbt()
        if o.repository and o.job not in RECOVERY_JOBS:  # a recovery's plan has read its repository
            checks.append(self._repository(check_mode))
            checks += self._leases()
        failed = [c for c in checks if c["status"] == FAIL]
        result = {"changed": False, "job": o.job, "vm": target, "checks": checks,
                  "missing_privileges": lacking, "user": content.sessionManager.currentSession.userName}
        if failed:
            raise PreflightFailedError("the %s of %s would fail, and nothing was changed: %s" % (
                o.job, target, "; ".join(c["message"] for c in failed)), details=result)
        return result

    def _recovery_objects(self):
        """(the new VM's name, the objects its creation needs privileges on): from the plan
        vm_create_from_configinfo would follow, which reads the point and resolves the placement."""
        given = dict(self.options.create or {})
        if not given.get("name"):
            raise InvalidSettingsError("a %s preflight needs create: the options vm_create_from_configinfo is given "
                                       "(name, repository, source_vm, placement)" % self.options.job)
        given.setdefault("encryption_key_file", self.options.encryption_key_file)
        given.setdefault("s3", self.options.s3)
        try:
            options = RecreateOptions(**given)
        except TypeError as exc:
            raise InvalidSettingsError("create: %s" % exc)
        plan = RecreateVm(self.client, options).plan()
        placement, spec = plan["placement"], plan["spec"]
        names = {path[1:path.index("]")] for path in [spec.files.vmPathName] + [
            getattr(c.device.backing, "fileName", "") or "" for c in spec.deviceChange or []] if path.startswith("[")}
        hosts = [placement["host"]] if placement["host"] is not None else list(placement["compute"].host)
        datastores = list({ds._moId: ds for h in hosts for ds in h.datastore if ds.name in names}.values())
        wanted_networks = {nic["network"] for nic in plan["builder"].nics}
        networks = [n for n in placement["datacenter"].network if n.name in wanted_networks]
        maps_rdms = any(isinstance(getattr(c.device, "backing", None), vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)
                        for c in spec.deviceChange or [])
        return options.name, placement_objects(self.client.content, placement, datastores, networks, maps_rdms), hosts

    def _privileges(self, lacking: List[dict], target: str) -> List[dict]:
        user = self.client.content.sessionManager.currentSession.userName
        if not lacking:
            return [_check("privileges", PASS, target, "%s holds every privilege the %s needs" % (user, self.options.job))]
        return [_check("privileges", FAIL, "%s %s" % (m["object_type"], m["object"]),
                       "%s lacks the privilege %s on %s %s (%s): add it to the user's role there, or use the role "
                       "playbooks/vsphere_roles.yml makes" % (user, m["privilege"], m["object_type"], m["object"], m["why"]))
                for m in lacking]

    def _vcenter(self) -> List[dict]:
        """Whether vCenter's certificate is verified (else the thumbprint to pin), and its clock."""
        settings = self.client.settings
        if settings.validate_certs:
            tls = _check("tls", PASS, settings.hostname, "vCenter's certificate is verified (%s)" % (
                "against %s" % settings.ca_bundle if settings.ca_bundle else "against this machine's trusted authorities"))
        else:
            thumbprint = server_thumbprints(settings.hostname, settings.port, False)["sha256"]
            tls = _check("tls", WARN, settings.hostname, "vCenter's certificate is not verified (validate_certs is false): "
                                                         "give ca_bundle (vCenter's VMCA root), or check that its SHA-256 "
                                                         "thumbprint is %s" % thumbprint)
        skew = (self.client.service_instance.CurrentTime() - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        clock = _check("clock", PASS if abs(skew) <= CLOCK_SKEW_SECONDS else WARN, settings.hostname,
                       "vCenter's clock is %.0f s %s this machine's%s" % (
                           abs(skew), "ahead of" if skew > 0 else "behind",
                           "" if abs(skew) <= CLOCK_SKEW_SECONDS else ": points are dated by this machine, so they and vCenter's "
                           "events and snapshots disagree; synchronise both with NTP"))
        return [tls, clock]

    def _vddk(self) -> dict:
        """VDDK found where the job will look for it (vddk_libdir or VDDK_LIBDIR), and its version."""
        libdir = self.options.vddk_libdir
        if not libdir:
            return _check("vddk", FAIL, "VDDK", "no VDDK: give vddk_libdir, or set VDDK_LIBDIR, to the root of VMware's "
                                                "VDDK distribution (the folder that holds lib64)")
        found = sorted(glob.glob(os.path.join(libdir, "lib64", "libvixDiskLib.so*")), key=len)
        if not found:
            return _check("vddk", FAIL, libdir, "%s holds no lib64/libvixDiskLib.so: give the root of VMware's VDDK "
                                                "distribution" % libdir)
        version = os.path.basename(found[-1]).partition(".so")[2].lstrip(".") or "unknown"
        return _check("vddk", PASS, libdir, "VDDK %s (%s)" % (version, os.path.basename(found[-1])))

    def _hotadd(self, transports: List[str], hosts: list, datastores: list) -> List[dict]:
        """Whether HotAdd can serve, where the job's transports include it: this machine must be a
        VM of this vCenter (VDDK finds it by its BIOS UUID), another than the one whose disks are
        read, in the same datacenter, on a host that sees the disks' datastores."""
        if "hotadd" not in transports or not hosts:
            return []
        others = [t for t in transports if t != "hotadd"]
        cannot = WARN if others else FAIL
        instead = "; %s may serve instead" % " or ".join(others) if others else ""
        bios_uuid = self.options.bios_uuid or read_bios_uuid()
        if not bios_uuid:
            unreadable = "this machine's BIOS UUID cannot be read (%s: root only, and absent in a container)" % SMBIOS_UUID
            return [_check("hotadd", WARN, "this machine", "%s: give bios_uuid to check HotAdd%s" % (unreadable, instead))]
        proxy = find_proxy_vm(self.client.content, bios_uuid)
        if proxy is None:
            return [_check("hotadd", cannot, "this machine", "this machine (BIOS UUID %s) is not a VM of this vCenter: "
                                                             "HotAdd works only from a backup proxy VM in the disks' "
                                                             "datacenter%s" % (bios_uuid, instead))]
        host, datacenter = proxy.runtime.host, datacenter_of(proxy)
        wanted = datacenter_of(hosts[0])
        if self.vm is not None and proxy._moId == self.vm._moId:
            problem = "this machine is the VM %s itself, and HotAdd cannot attach a VM's disks to itself" % proxy.name
        elif datacenter is None or datacenter._moId != wanted._moId:
            problem = "the proxy VM %s is in datacenter %s, the disks in %s" % (
                proxy.name, datacenter.name if datacenter else "none", wanted.name)
        else:
            unseen = sorted(ds.name for ds in datastores if ds._moId not in {d._moId for d in host.datastore})
            problem = "the proxy VM's host %s does not see datastore %s" % (host.name, ", ".join(unseen)) if unseen else ""
        if problem:
            return [_check("hotadd", cannot, proxy.name, "HotAdd cannot serve: %s%s" % (problem, instead))]
        return [_check("hotadd", PASS, proxy.name, "this machine is the VM %s on host %s, in the disks' datacenter %s: "
                                                   "HotAdd can serve" % (proxy.name, host.name, datacenter.name))]

    def _nfc(self, transports: List[str], hosts: list, hotadd_serves: bool) -> List[dict]:
        """Whether each ESXi host answers on its NFC port, where the job's transports include NBD or
        NBDSSL: from this machine, they reach the disks only through it. A closed port fails the
        preflight unless HotAdd can serve, or SAN may (the LUNs' visibility is not checked)."""
        if not {"nbd", "nbdssl"} & set(transports):
            return []
        others = [t for t in transports if t == "san" or (t == "hotadd" and hotadd_serves)]
        checks = []
        for host in {h._moId: h for h in hosts}.values():
            address = _management_address(host)
            try:
                socket.create_connection((address, NFC_PORT), timeout=NFC_TIMEOUT).close()
            except OSError as exc:
                checks.append(_check("nfc", WARN if others else FAIL, host.name, (
                    "ESXi host %s does not answer on TCP %d at %s (%s): NBD and NBDSSL cannot reach its disks; open the "
                    "port from this machine to the host%s" % (host.name, NFC_PORT, address, exc.strerror or exc,
                                                              ", or make sure %s works here" % " or ".join(others)
                                                              if others else ""))))
                continue
            checks.append(_check("nfc", PASS, host.name, "ESXi host %s answers on TCP %d at %s (NBD, NBDSSL)" % (
                host.name, NFC_PORT, address)))
        return checks

    def _cbt(self) -> List[dict]:
        config, name = self.vm.config, self.vm.name
        version = int((config.version or "vmx-0").split("-")[-1] or 0)
        if version < CBT_HARDWARE:
            return [_check("cbt", FAIL, name, "%s has virtual hardware %s; changed block tracking needs version %d or "
                                              "later: upgrade its hardware" % (name, config.version, CBT_HARDWARE))]
        checks = [_check("cbt", PASS if config.changeTrackingEnabled else WARN, name,
                         "changed block tracking is on" if config.changeTrackingEnabled else
                         "changed block tracking is off: the backup role turns it on, and the next backup is full")]
        if not config.changeTrackingEnabled and self.vm.snapshot is not None:
            checks.append(_check("cbt", WARN, name, "%s has snapshots: changed block tracking turned on now cannot tell "
                                                    "which areas were written before (QueryChangedDiskAreas '*' needs a VM "
                                                    "without snapshots when CBT is enabled); remove them first" % name))
        host = self.vm.runtime.host
        if host is not None:
            product = host.config.product  # each attribute read of a managed object is a request: one here
            version, build = product.version, product.build
            defects = ["%s: %s" % (kb, what) for release, kb, what in CBT_DEFECTS if version.startswith(release)]
            checks.append(_check("esxi", WARN if defects else PASS, host.name, (
                "ESXi %s (build %s) has changed block tracking defects: %s. Check the build against each KB" % (
                    version, build, "; ".join(defects))) if defects else "ESXi %s: no known CBT defect" % version))
        try:
            _disks, skipped = select_disks(config, None)
        except VadpError as exc:
            return checks + [_check("disks", FAIL, name, exc.message)]
        checks += [_check("disks", WARN, "%s %s" % (name, s["label"]), "%s of %s is left out of every backup (%s)" % (
            s["label"], name, s["why"])) for s in skipped]
        return checks

    def _repository(self, check_mode: bool) -> dict:
        o = self.options
        try:
            if self.options.job == "backup":
                repository = Repository.create(o.repository, dry_run=True, key_file=o.encryption_key_file, s3=o.s3)
                if repository is None:
                    return self._space(None) or _check("repository", PASS, o.repository, "a new repository will be made there")
                if check_mode:  # the probe writes (and deletes) a file
                    return _check("repository", PASS, o.repository, "readable (not probed for writing in check mode)")
                repository.check_writable()
                space = self._space(repository)
                if space:
                    return space
            else:
                repository = Repository(o.repository, o.encryption_key_file, o.s3)
                if not repository.points.list(self.vm.config.instanceUuid):
                    return _check("repository", WARN, o.repository, "%s holds no point of %s by its instance uuid: restore "
                                  "another VM's point with source_vm (restore_point_info lists them)" % (o.repository, self.vm.name))
        except VadpError as exc:
            return _check("repository", FAIL, o.repository, "%s (%s)" % (exc.message, exc.error_code))
        return _check("repository", PASS, o.repository, "readable%s" % (", writable" if self.options.job == "backup" else ""))

    def _leases(self) -> List[dict]:
        """A WARN for a prune or collection holding the repository now (the job waits for it), and
        for each stale lease a crashed run left (the next prune removes it)."""
        o = self.options
        try:
            live, stale = read_leases(open_storage(o.repository, o.s3))
        except (OSError, VadpError):
            return []  # the repository check said why it cannot be read
        checks = [_check("leases", WARN, o.repository, "held now by %s: the job waits for it (lock_timeout)" % describe(lease))
                  for lease in live if lease.get("kind") == EXCLUSIVE]
        checks += [_check("leases", WARN, o.repository, "a stale lease of a run that ended without giving it back: %s; "
                                                        "the next repository_prune removes it" % describe(lease))
                   for lease in stale if lease.get("kind") in (SHARED, EXCLUSIVE)]
        return checks

    def _space(self, repository) -> Optional[dict]:
        """A WARN when a folder's free space is less than the disks backups read (what a first, full backup
        may need before compression and deduplication), else None; a bucket has no such bound."""
        o = self.options
        if is_remote(o.repository) or (repository is not None and repository.points.list(self.vm.config.instanceUuid)):
            return None  # an incremental needs what changed, which the preflight cannot know
        folder = o.repository
        while not os.path.isdir(folder):
            folder = os.path.dirname(folder) or "."
        free = shutil.disk_usage(folder).free
        capacity = sum(d.capacityInBytes for d in select_disks(self.vm.config, None)[0])  # the disks backups read
        if free >= capacity:
            return None
        return _check("repository", WARN, o.repository, "%d MiB free for a first backup of %d MiB of disks: it needs less "
                                                        "after compression and deduplication, but may not fit" % (
                                                            free >> 20, capacity >> 20))


def _management_address(host) -> str:
    """Where VDDK reaches a host: its management interface's (vmk0) address, else its name."""
    config = host.config  # read once: every read of host.config fetches the whole HostConfigInfo again
    network = config.network if config else None
    for vnic in (network.vnic if network else None) or []:
        if vnic.device == "vmk0" and vnic.spec.ip and vnic.spec.ip.ipAddress:
            return vnic.spec.ip.ipAddress
    return host.name
