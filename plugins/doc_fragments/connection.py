# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The options of connection_spec.connection_argument_spec(); names, aliases, defaults and
    # environment variables are those of vmware.vmware, so AWX's VMware credential works as is.
    DOCUMENTATION = r'''
options:
  hostname:
    description:
      - The host name or IP address of the vCenter server (or ESXi host).
      - If not given, the environment variable E(VMWARE_HOST) is used.
    type: str
  username:
    description:
      - The user name to log in with.
      - If not given, the environment variable E(VMWARE_USER) is used.
    type: str
    aliases: [ admin, user ]
  password:
    description:
      - The password of O(username). It never appears in the module's output or logs.
      - If not given, the environment variable E(VMWARE_PASSWORD) is used.
    type: str
    aliases: [ pass, pwd ]
  port:
    description:
      - The port of the vSphere API.
      - If not given, the environment variable E(VMWARE_PORT) is used.
    type: int
    default: 443
  validate_certs:
    description:
      - Whether to verify the server's TLS certificate (chain and host name).
      - Leave it on in production; trust a private CA with O(ca_bundle) instead of turning it off.
      - If not given, the environment variable E(VMWARE_VALIDATE_CERTS) is used.
    type: bool
    default: true
  ca_bundle:
    description:
      - A PEM file of CA certificates trusted in addition to the system's, for a vCenter whose
        certificate is signed by a private CA (for example the VMCA's root, from
        C(https://vcenter/certs/download.zip)).
      - If not given, the environment variable E(VMWARE_CA_BUNDLE) is used.
    type: path
  proxy_host:
    description:
      - The address of an HTTPS proxy that relays the API requests.
      - If not given, the environment variable E(VMWARE_PROXY_HOST) is used.
    type: str
  proxy_port:
    description:
      - The port of O(proxy_host).
      - If not given, the environment variable E(VMWARE_PROXY_PORT) is used.
    type: int
notes:
  - Requires the C(pyvmomi) Python library on the host that runs the module.
  - A session that vCenter ends while the module runs (idle expiry, a vCenter restart, an
    administrator terminating it) is replaced by a new login, and the refused call is retried once.
  - On failure the result carries C(error_code), a stable machine-readable reason next to C(msg).
'''

    VM_IDENTITY = r'''
options:
  name:
    description:
      - The name of the VM. Several VMs with this name is an error that lists them; narrow it with
        O(folder) or O(datacenter), or use O(uuid) or O(moid).
    type: str
  folder:
    description:
      - The inventory folder of the VM named O(name), as a path that starts with the datacenter,
        for example C(/DC0/vm/production). With O(datacenter) set, a path relative to the
        datacenter's VM folder (C(production)) is accepted too.
    type: str
  uuid:
    description:
      - The BIOS uuid of the VM, or its instance uuid with O(use_instance_uuid).
    type: str
  use_instance_uuid:
    description:
      - Whether O(uuid) is the instance uuid (unique per vCenter) instead of the BIOS uuid
        (copied along when a VM is cloned or restored as a copy).
    type: bool
    default: false
  moid:
    description:
      - The managed object id of the VM, for example C(vm-42).
    type: str
  datacenter:
    description:
      - Look for the VM in this datacenter only.
    type: str
'''

    VDDK = r'''
options:
  vddk_libdir:
    description:
      - The root of VMware's VDDK distribution (the folder that holds C(lib64)), on the host that runs
        the module. VDDK cannot be redistributed; install it there and point this option at it.
      - If not given, the environment variable E(VDDK_LIBDIR) is used.
    type: path
  vddk_config:
    description: A VDDK configuration file passed to C(VixDiskLib_InitEx).
    type: path
  transport:
    description:
      - VDDK transport modes to try, in order, separated by colons (C(san), C(hotadd), C(nbdssl), C(nbd)).
    type: str
  thumbprint:
    description:
      - The SHA-1 (or SHA-256) thumbprint of the vCenter or ESXi certificate, for VDDK. When not
        given it is read from the server, through a connection verified under O(validate_certs) and
        O(ca_bundle); with O(validate_certs=false) the module warns that it is unverified.
    type: str
  state_dir:
    description:
      - Folder for the transfer's plan, checkpoint, progress (see M(vadp.vsphere.transfer_status))
        and VDDK log. Defaults to a folder under C(~/.vadp/transfers) named after the VM.
    type: path
  host_disk_limit:
    description:
      - At most this many disks are moved at once through one ESXi host by the backups and restores
        this machine runs (Ansible forks, async tasks, one AWX job). vSphere's NFC service has memory
        for about 50 disks in parallel on a host, shared with every other backup product; a transfer
        that would pass the limit waits for a slot (M(vadp.vsphere.transfer_status) says so) and
        then runs. The slots are lock files under C(~/.vadp/locks), which jobs on other machines or
        containers do not see; spread VMs over execution nodes with that in mind.
      - C(0) sets no limit.
    type: int
    default: 16
'''
