#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: recovery_drill
short_description: Prove restore points recover - boot each as a temporary VM on an isolated network, then delete it
description:
  - For each VM of O(vms), recovers the chosen point (default the latest) as a new, temporary VM named
    O(name_prefix) plus the VM's name, with every NIC on the isolated port group O(network), a new MAC and a
    new BIOS uuid; powers it on; waits until VMware Tools run in the guest (its heartbeat) and, when it has a
    network card, it reports an IP address, within O(boot_timeout); runs the checks (O(tcp_ports)); then powers
    it off and deletes it (unless O(keep)).
  - Records per VM the verdict, the reason of a failure (for example C(no heartbeat within 300 s)), the
    recovery time (from the start of that VM's drill to its heartbeat), the time of each phase, and the point's
    age. Writes a report (JSON, and a self-contained HTML page) into O(report_dir) and returns one summary line
    per VM.
  - Runs up to O(parallel) VMs at once. One VM's failure does not stop the others; the module fails at the end,
    naming the VMs that failed (C(DRILL_FAILED)), with the whole result.
  - Before anything is created, removes what a killed earlier drill of the same VMs left behind - a VM named as
    this drill names them that carries this collection's recovery mark; nothing else is ever deleted. Then plans
    every VM; if a NIC would land on another network than O(network) (through O(network_map)) nothing starts
    (C(NETWORK_NOT_ISOLATED)) unless O(allow_other_networks); so does a O(network) that is a standard port group
    on a vSwitch with physical uplinks (with O(allow_other_networks), a warning). A VM listed twice in O(vms) is
    refused.
  - Raw Device Mappings are left out of drill VMs, so a drill never attaches a production LUN.
  - With O(mode=instant), nothing is copied - each point is served by this host as an NFS datastore (as
    M(vadp.vsphere.instant_recovery) does) named C(vadp-<drill VM name>), mounted on O(host), and the drill VM runs
    from it, its writes going to an overlay on this host; afterwards the VM is unregistered, the datastore unmounted
    and no longer served, and the overlay deleted. A drill of a large VM takes minutes and no datastore space. Needs
    what M(vadp.vsphere.restore_point_datastore) needs on this host, and O(host) reaching O(nfs_address) on port 2049.
version_added: 0.2.0
author:
  - vadp.vsphere team (@vadp)
options:
  repository:
    description: The repository's folder, or V(s3://bucket/prefix) for one in object storage (O(s3)).
    type: path
    required: true
  vms:
    description: The backed-up VMs to drill (names at backup time or instance uuids).
    type: list
    elements: str
    required: true
  restore_point:
    description:
      - The point of each VM - C(latest), C(clean) (the newest neither marked suspicious nor found infected), a
        point id, or an ISO 8601 time meaning the last point at or before it.
    type: str
    default: latest
  network:
    description: The isolated port group (standard port group name or distributed port group key or name) every drill NIC joins.
    type: str
    required: true
  network_map:
    description:
      - Source network name to target network, instead of putting every NIC on O(network). A NIC mapped anywhere
        but O(network) stops the drill before it starts unless O(allow_other_networks).
    type: dict
  allow_other_networks:
    description:
      - Let NICs land on other networks than O(network), as O(network_map) says, and let O(network) be a port group
        on a vSwitch with physical uplinks (each with a warning).
    type: bool
    default: false
  name_prefix:
    description: The drill VMs' names are this prefix and the source VM's name; leftovers are found by it.
    type: str
    default: vadp-drill-
  boot_timeout:
    description: Seconds from power-on for VMware Tools to run and an IP to show.
    type: int
    default: 300
  tcp_ports:
    description: TCP ports of the guest's IP that must accept a connection (from the host that runs the module).
    type: list
    elements: int
    default: []
  check_timeout:
    description: Seconds each TCP check keeps trying.
    type: int
    default: 60
  keep:
    description: Leave the drill VMs powered on afterwards (a person looks at them; the next drill removes them).
    type: bool
    default: false
  parallel:
    description: VMs drilled at once.
    type: int
    default: 2
  report_dir:
    description: Where the report goes, as C(recovery-drill-<time>.json) and C(.html); no report file when not given.
    type: path
  datastore:
    description:
      - The datastore of the drill VMs' files and disks; each disk's source datastore if not given.
      - Not used with O(mode=instant) (the VMs run from their points' served datastores).
    type: str
  mode:
    description:
      - C(copy) restores every byte of each point onto a new VM's disks before it boots; C(instant) boots each point
        where it is, served as an NFS datastore (O(host) required).
    type: str
    choices: [copy, instant]
    default: copy
    version_added: 0.4.0
  transport:
    description: VDDK transport modes to try, in order, separated by colons, to fill the drill VMs' disks.
    type: str
    default: nbdssl:nbd
  timeout:
    description: Seconds each VM's disks may take to fill.
    type: int
    default: 86400
extends_documentation_fragment:
  - vadp.vsphere.connection
  - vadp.vsphere.repository_key
  - vadp.vsphere.repository_s3
  - vadp.vsphere.connection.vddk
  - vadp.vsphere.placement
  - vadp.vsphere.nfs_datastore
attributes:
  check_mode:
    support: full
    description: Finds the points, plans every drill VM and checks the networks; names the leftovers it would remove. Creates nothing.
notes:
  - Command checks in the guest (Guest Operations API) are not offered yet; the lab does not model them.
  - Error codes - C(DRILL_FAILED) (one or more VMs failed; the result is returned with it), C(NETWORK_NOT_ISOLATED),
    C(INVALID_ARGUMENT), and those of M(vadp.vsphere.vm_create_from_configinfo) and M(vadp.vsphere.vmdk_restore)
    in a failed VM's reason.
seealso:
  - module: vadp.vsphere.vm_create_from_configinfo
  - module: vadp.vsphere.vmdk_restore
'''

EXAMPLES = r'''
- name: Drill last night's points of three VMs on the isolated port group, two at a time
  vadp.vsphere.recovery_drill:
    repository: /backups/vsphere
    vms: [web01, db01, app01]
    network: Isolated Network
    cluster: Cluster-DR
    tcp_ports: [22]
    report_dir: /var/www/drills

- name: Drill a 2 TB file server in minutes - boot its point where it is, served over NFS by this host
  vadp.vsphere.recovery_drill:
    repository: /backups/vsphere
    vms: [files01]
    network: Isolated Network
    mode: instant
    host: esxi-01.example.com
    nfs_address: 192.0.2.10
    nfs_clients: [192.0.2.21]

- name: Keep the drill VM of web01 for a look at its console
  vadp.vsphere.recovery_drill:
    repository: /backups/vsphere
    vms: [web01]
    network: Isolated Network
    keep: true
'''

RETURN = r'''
drills:
  description: One entry per VM - vm, drill_vm, point, point_time, point_age_seconds, suspicious (why its backup marked the
    point suspicious, or null), verdict (passed, failed; planned in check mode), reason, recovery_seconds, phases
    (create_seconds, restore_seconds (not in an instant drill), boot_seconds), ip, checks, cleaned_up.
  returned: always
  type: list
  elements: dict
  sample: [{vm: web01, drill_vm: vadp-drill-web01, point: 20261201T230000Z-3f9a2c, point_time: "2026-12-01T23:00:00Z",
            point_age_seconds: 32400, suspicious: null, verdict: passed, reason: null, recovery_seconds: 41.2,
            phases: {create_seconds: 2.1, restore_seconds: 30.4, boot_seconds: 8.7}, ip: 10.20.0.15,
            checks: [{check: tcp/22, ok: true, detail: "10.20.0.15:22 answered"}], cleaned_up: true}]
summary:
  description: One line per VM, for the job's output.
  returned: always
  type: list
  elements: str
  sample: ["web01: passed - point 20261201T230000Z-3f9a2c (9 h 0 min old), recovered in 41 s, IP 10.20.0.15"]
failed_vms:
  description: The VMs whose drill failed.
  returned: always
  type: list
  elements: str
leftovers_removed:
  description: Drill VMs a killed earlier drill had left, removed first (in check mode, those that would be).
  returned: always
  type: list
  elements: str
report:
  description: The report's files (json, html), or null without O(report_dir) or in check mode.
  returned: always
  type: dict
'''

from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.drill import DrillOptions, RecoveryDrill
from ansible_collections.vadp.vsphere.plugins.module_utils.module_base import (
    VsphereModule, nfs_datastore_argument_spec, placement_argument_spec, repository_access_argument_spec, vddk_argument_spec)


class RecoveryDrillModule(VsphereModule):
    def __init__(self):
        super().__init__(argument_spec=dict(
            repository=dict(type="path", required=True),
            **repository_access_argument_spec(),
            **vddk_argument_spec("nbdssl:nbd"),
            vms=dict(type="list", elements="str", required=True),
            restore_point=dict(type="str", default="latest"),
            network=dict(type="str", required=True),
            network_map=dict(type="dict"),
            allow_other_networks=dict(type="bool", default=False),
            name_prefix=dict(type="str", default="vadp-drill-"),
            boot_timeout=dict(type="int", default=300),
            tcp_ports=dict(type="list", elements="int", default=[]),
            check_timeout=dict(type="int", default=60),
            keep=dict(type="bool", default=False),
            parallel=dict(type="int", default=2),
            report_dir=dict(type="path"),
            **placement_argument_spec(),
            datastore=dict(type="str"),
            timeout=dict(type="int", default=86400),
            mode=dict(type="str", default="copy", choices=["copy", "instant"]),
            **nfs_datastore_argument_spec(),
        ), supports_check_mode=True, mutually_exclusive=[("cluster", "host")], required_if=[("mode", "instant", ["host"])])

    def execute(self, client):
        options = self.options(DrillOptions, vddk=self.vddk_settings(), vms=tuple(self.params["vms"]),
                               tcp_ports=tuple(self.params["tcp_ports"]), nfs_clients=tuple(self.params["nfs_clients"]))
        return RecoveryDrill(client, options, warn=self.module.warn).run(self.module.check_mode)


def main():
    RecoveryDrillModule().run()


if __name__ == "__main__":
    main()
