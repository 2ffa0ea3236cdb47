# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A recovery drill (the recovery_drill module's work): each VM's point recovered as a temporary
VM on an isolated network, powered on, watched until VMware Tools run and it has an IP, checked,
then powered off and deleted. Several VMs at once, within a limit; a report at the end.

Before anything is made, the drill removes what a killed earlier drill of the same VMs left (a VM
with the drill's name and this collection's recovery mark, nothing else), and checks every VM's
plan: no NIC may land on another network than the isolated one unless the caller allows it.
No Ansible imports.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import os
import socket
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

try:
    from pyVmomi import vim
except ImportError:
    pass  # the module reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils._drill.record import DrillCheck, DrillRecord, DrillReport
from ansible_collections.vadp.vsphere.plugins.module_utils._drill.report import summary_line, write_report
from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError, ToolsNotRunningError, VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.instant import (
    datastore_name, mount_served, release_served, served_disks)
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.point_datastore import PointDatastoreJob, PointDatastoreOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.recreate import RecreateOptions, RecreateVm
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.restore import RestoreJob, RestoreOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._recreate.config_spec import DRILL_MARK_KEY
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.points import parse_time
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.store import Repository
from ansible_collections.vadp.vsphere.plugins.module_utils._transfer.connect import VddkSettings
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.client import VsphereClient
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.lookup import collect_properties, entity_name, find_vm
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.placement import find_placement, find_vm_folder
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.power import power_on, wait_for_tools
from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tasks import DEFAULT_TASK_TIMEOUT, wait_for_task


class NetworkNotIsolatedError(VadpError):
    error_code = "NETWORK_NOT_ISOLATED"


class DrillFailedError(VadpError):
    error_code = "DRILL_FAILED"


class _Failed(Exception):
    """One VM's drill failed, for the reason given."""


@dataclasses.dataclass
class _DrillPlan:
    """One VM's drill before it runs: its record, and what recreating it makes (None: it cannot be
    made, the record says why) with the NICs that would result."""
    record: DrillRecord
    recreate: Optional[RecreateOptions]
    nics: List[dict]


@dataclasses.dataclass(frozen=True)
class DrillOptions:
    """The module's options of the same names (docs: ansible-doc vadp.vsphere.recovery_drill)."""
    vddk: VddkSettings
    repository: str
    vms: Sequence[str]
    network: str
    restore_point: str = "latest"
    network_map: Optional[Dict[str, str]] = None
    allow_other_networks: bool = False
    name_prefix: str = "vadp-drill-"
    boot_timeout: int = 300
    tcp_ports: Sequence[int] = ()
    check_timeout: int = 60
    keep: bool = False
    parallel: int = 2
    report_dir: Optional[str] = None
    datacenter: Optional[str] = None
    folder: Optional[str] = None
    cluster: Optional[str] = None
    host: Optional[str] = None
    resource_pool: Optional[str] = None
    datastore: Optional[str] = None
    timeout: int = 86400
    state_dir: Optional[str] = None  # where each drill's transfer keeps its state; a temporary folder if not given
    encryption_key_file: Optional[str] = None
    s3: Optional[dict] = None  # how to reach a repository in object storage (s3.OPTIONS)
    mode: str = "copy"  # or "instant": each point served as an NFS datastore, nothing copied
    nfs_address: str = "127.0.0.1"
    nfs_port: int = 2049
    nfs_clients: Sequence[str] = ()
    datastores_dir: Optional[str] = None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class RecoveryDrill:
    """warn receives the messages a caller should show (Ansible: module.warn)."""

    def __init__(self, client, options: DrillOptions, warn: Callable[[str], None] = lambda message: None):
        self.client, self.options, self.warn = client, options, warn
        self._serving = threading.Lock()  # one NFS server: each datastore served or released rewrites its configuration

    def run(self, check_mode: bool = False) -> dict:
        o = self.options
        if not o.vms or not o.network or not o.name_prefix or o.parallel < 1:
            raise InvalidSettingsError("a drill needs vms, network, a name_prefix and parallel of 1 or more")
        if o.mode == "instant" and not o.host:
            raise InvalidSettingsError("an instant drill needs host: the ESXi host that mounts the points' datastores")
        twice = sorted({vm for vm in o.vms if o.vms.count(vm) > 1})
        if twice:  # one drill VM a source: a second would be the same VM, and its verdict counted twice
            raise InvalidSettingsError("vms lists %s more than once" % ", ".join(twice))
        self._refuse_uplinked_network()
        started = _now()
        removed = self._remove_leftovers(check_mode)
        plans = {vm: self._plan(vm, o.name_prefix + vm in removed) for vm in o.vms}
        self._refuse_other_networks(plans)
        if check_mode:
            drills = [dataclasses.replace(p.record, verdict="planned" if p.recreate else "failed") for p in plans.values()]
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=o.parallel) as pool:
                drills = list(pool.map(lambda vm: self._drill(plans[vm]), o.vms))
        report = DrillReport(started=_stamp(started), finished=_stamp(_now()), repository=os.path.abspath(o.repository),
                             network=o.network, restore_point=o.restore_point, leftovers_removed=removed, drills=drills)
        failed = [d for d in drills if d.verdict == "failed"]
        result = {"changed": True, "drills": [d.to_json() for d in drills], "leftovers_removed": removed,
                  "summary": [summary_line(d) for d in drills], "report": None, "failed_vms": [d.vm for d in failed]}
        if o.report_dir and not check_mode:
            result["report"] = write_report(report, o.report_dir)
        if failed:
            raise DrillFailedError("recovery drill failed for %s: %s" % (", ".join(result["failed_vms"]), "; ".join(
                "%s: %s" % (d.vm, d.reason) for d in failed)), details=result)
        return result

    # before anything is made

    def _remove_leftovers(self, check_mode: bool) -> List[str]:
        """VMs a killed or kept drill of these VMs left: named as the drill names them, and with the
        drill's own mark naming that VM. A VM recovered for use carries the recovery mark alone, and
        is never touched, whatever its name."""
        drill_of = {self.options.name_prefix + vm: vm for vm in self.options.vms}
        removed = []
        for vm, props in collect_properties(self.client.content, vim.VirtualMachine, ["name", "config.extraConfig"]):
            name = entity_name(props.get("name"))  # vCenter keeps '/' in a name as %2f
            marks = {o.key: o.value for o in props.get("config.extraConfig") or []}
            if name in drill_of and marks.get(DRILL_MARK_KEY) == drill_of[name]:
                removed.append(name)
                if not check_mode:
                    self._destroy(vm)
        return removed

    def _recreate_options(self, vm: str, point: dict) -> RecreateOptions:
        o = self.options
        return RecreateOptions(
            name=o.name_prefix + vm, repository=o.repository, restore_point=point["id"], source_vm=vm,
            datacenter=o.datacenter, folder=o.folder, cluster=o.cluster, host=o.host, resource_pool=o.resource_pool,
            datastore=o.datastore if o.mode == "copy" else None, network=None if o.network_map else o.network,
            network_map=o.network_map,
            mac="regenerate", bios_uuid="new", if_exists="fail", rdm_policy="skip",  # never a production LUN
            encryption_key_file=o.encryption_key_file, s3=o.s3, marks={DRILL_MARK_KEY: vm})

    def _plan(self, vm: str, leftover: bool) -> _DrillPlan:
        """The drill's first record and what recreating it would make; leftover: check mode left a
        leftover of the drill VM in place, which the plan may meet."""
        record = DrillRecord(vm=vm, drill_vm=self.options.name_prefix + vm)
        try:
            repository = Repository(self.options.repository, self.options.encryption_key_file, self.options.s3)
            point = repository.points.find(repository.points.vm_key(vm), self.options.restore_point)
            record.point, record.point_time = point["id"], point["time"]
            record.point_age_seconds = round((_now() - parse_time(point["time"])).total_seconds())
            anomaly = point.get("anomaly") or {}
            if anomaly.get("suspicious"):
                record.suspicious = "; ".join(r["message"] for r in anomaly["reasons"])
            recreate = self._recreate_options(vm, point)
            planning = dataclasses.replace(recreate, if_exists="keep") if leftover else recreate
            return _DrillPlan(record, recreate, RecreateVm(self.client, planning).run(check_mode=True)["nics"])
        except VadpError as exc:
            record.reason = "%s: %s" % (exc.error_code, exc.message)
            return _DrillPlan(record, None, [])

    def _refuse_other_networks(self, plans: Dict[str, _DrillPlan]) -> None:
        elsewhere = ["%s NIC %s on %s" % (vm, n["source_key"], n["network"]) for vm, p in plans.items()
                     for n in p.nics if n["network"] != self.options.network]
        if elsewhere and not self.options.allow_other_networks:
            raise NetworkNotIsolatedError(
                "nothing started: a drill VM's NIC would land outside the isolated network %s (%s); change "
                "network_map, or set allow_other_networks if that is really meant" % (self.options.network, "; ".join(elsewhere)))
        if elsewhere:
            self.warn("drill VMs on other networks than %s, as allowed: %s" % (self.options.network, "; ".join(elsewhere)))

    def _refuse_uplinked_network(self) -> None:
        """A standard port group on a vSwitch with physical uplinks may reach the production network,
        where a clone of a production VM (same hostname, same IP) must never boot."""
        for host, props in collect_properties(self.client.content, vim.HostSystem, ["name", "config.network"]):
            network = props.get("config.network")
            if network is None:
                continue
            switches = {s.name: s for s in network.vswitch or []}
            for group in network.portgroup or []:
                switch = switches.get(group.spec.vswitchName)
                if group.spec.name == self.options.network and switch is not None and switch.pnic:
                    uplinked = "port group %s on host %s is on vSwitch %s, which has physical uplinks (%s)" % (
                        group.spec.name, props["name"], switch.name, ", ".join(switch.pnic))
                    if not self.options.allow_other_networks:
                        raise NetworkNotIsolatedError(
                            "nothing started: %s, so drill VMs (clones of production VMs, with their hostnames and "
                            "addresses) could reach the production network; use a port group without uplinks, or set "
                            "allow_other_networks if this one is isolated (a VLAN nothing else uses)" % uplinked)
                    self.warn("%s: allowed by allow_other_networks; make sure it is isolated" % uplinked)

    # one VM's drill

    def _drill(self, plan: _DrillPlan) -> DrillRecord:
        record = plan.record
        if plan.recreate is None:
            return record
        start = time.monotonic()
        try:
            with VsphereClient(self.client.settings) as client:  # one session per thread
                self._recover_and_boot(client, plan.recreate, record, start)
        except _Failed as exc:
            record.reason = str(exc)
        except VadpError as exc:
            record.reason = "%s: %s" % (exc.error_code, exc.message)
        except Exception as exc:  # noqa: BLE001 - one VM's surprise must not end the others' drills
            record.reason = "unexpected %s: %s" % (type(exc).__name__, exc)
        if record.reason is None:
            record.verdict = "passed"
        return record

    def _recover_and_boot(self, client, recreate: RecreateOptions, record: DrillRecord, start: float) -> None:
        o = self.options
        if o.mode == "instant":
            recreate = self._serve(client, recreate, record)
        try:
            created = RecreateVm(client, recreate, warn=self.warn).run()
        except Exception:
            if o.mode == "instant":
                self._release(recreate.name)
            raise
        vm = find_vm(client.content, moid=created["vm"]["moid"])
        try:
            record.phases["create_seconds"] = round(time.monotonic() - start, 1)
            if o.mode == "copy":
                self._restore(client, vm, created, record)
                record.phases["restore_seconds"] = round(time.monotonic() - start - record.phases["create_seconds"], 1)
            power_on(vm, {}, DEFAULT_TASK_TIMEOUT)  # the task; the guest's boot is what boot_timeout bounds
            booting = time.monotonic()
            try:
                wait_for_tools(vm, o.boot_timeout)
            except ToolsNotRunningError:
                raise _Failed("no heartbeat within %d s" % o.boot_timeout)
            record.recovery_seconds = round(time.monotonic() - start, 1)
            record.phases["boot_seconds"] = round(time.monotonic() - booting, 1)
            record.ip = self._wait_for_ip(vm, booting + o.boot_timeout)
            record.checks.extend(self._tcp_check(record.ip, port) for port in o.tcp_ports)
            failed = [c.detail for c in record.checks if not c.ok]
            if failed:
                raise _Failed("check failed: %s" % "; ".join(failed))
        finally:
            if not o.keep:
                try:
                    self._destroy(vm)
                    record.cleaned_up = True
                except VadpError as exc:  # the next drill removes it; the drill's own reason stays
                    self.warn("drill VM %s (%s) was not removed: %s" % (vm.name, vm._moId, exc.message))

    def _restore(self, client, vm, created: dict, record: DrillRecord) -> None:
        """Copy the point onto the new VM's disks."""
        o = self.options
        with tempfile.TemporaryDirectory(prefix="vadp-drill-") as temporary:
            state_dir = os.path.join(o.state_dir, vm.name) if o.state_dir else temporary
            RestoreJob(client, vm, RestoreOptions(
                vddk=o.vddk, repository=o.repository, restore_point=record.point, source_vm=record.vm,
                mode="fresh", disk_map=created["disk_map"], reset_cbt=False, state_dir=state_dir, timeout=o.timeout,
                encryption_key_file=o.encryption_key_file, s3=o.s3), warn=self.warn).run()

    def _serve(self, client, recreate: RecreateOptions, record: DrillRecord) -> RecreateOptions:
        """An instant drill: the point served as an NFS datastore named after the drill VM and mounted
        on host; the recreation that attaches its disks as they are."""
        o = self.options
        host = find_placement(client.content, o.datacenter, o.folder, o.host)["host"]
        with self._serving:
            served = PointDatastoreJob(PointDatastoreOptions(
                repository=o.repository, vm=record.vm, restore_point=record.point, name=datastore_name(recreate.name),
                nfs_address=o.nfs_address, nfs_port=o.nfs_port, nfs_clients=tuple(o.nfs_clients),
                datastores_dir=o.datastores_dir, encryption_key_file=o.encryption_key_file, s3=o.s3)).run()["datastore"]
            datastore, _mounted = mount_served(host, served)
        return dataclasses.replace(recreate, datastore=datastore.name, existing_disks=served_disks(served, datastore.name))

    def _wait_for_ip(self, vm, deadline: float) -> Optional[str]:
        if not [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]:
            return None  # no network card: nothing to wait for
        while not (vm.guest and vm.guest.ipAddress):
            if time.monotonic() >= deadline:
                raise _Failed("no IP address within %d s of power-on" % self.options.boot_timeout)
            time.sleep(1)
        return vm.guest.ipAddress

    def _tcp_check(self, ip: Optional[str], port: int) -> DrillCheck:
        name = "tcp/%d" % port
        if ip is None:
            return DrillCheck(name, False, "the VM has no IP address")
        deadline = time.monotonic() + self.options.check_timeout
        while True:
            try:
                with socket.create_connection((ip, port), timeout=5):
                    return DrillCheck(name, True, "%s:%d answered" % (ip, port))
            except OSError as exc:
                if time.monotonic() >= deadline:
                    return DrillCheck(name, False, "%s:%d did not answer within %d s: %s" % (
                        ip, port, self.options.check_timeout, exc))
            time.sleep(1)

    def _destroy(self, vm) -> None:
        """Power off and delete the drill VM; one that runs from its point's served datastore (an instant
        drill) is unregistered instead (its disks are the served files), and the datastore released."""
        instant = any(d.name == datastore_name(vm.name) for d in vm.datastore)
        if vm.runtime.powerState != "poweredOff":
            wait_for_task(vm.PowerOffVM_Task())
        if not instant:
            wait_for_task(vm.Destroy_Task())
            return
        name = vm.name
        vm.UnregisterVM()
        self._release(name)

    def _release(self, drill_vm: str) -> None:
        """The served datastore of an instant drill's VM unmounted, no longer served, its overlays deleted."""
        datacenter, _folder = find_vm_folder(self.client.content, self.options.datacenter, self.options.folder)
        with self._serving:
            release_served(datacenter, datastore_name(drill_vm), self.options.datastores_dir, False, [])
