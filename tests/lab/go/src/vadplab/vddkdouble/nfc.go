package main

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
)

const nfcPort = 902 // ESXi's NFC service, which NBD and NBDSSL reach

// checkNFC connects to the NFC port of the ESXi host that runs the VM, at the address of its
// management interface (vmk0), as VDDK's NBD and NBDSSL transports do; a port that does not
// answer fails the transport (VDDK logs "NBD_ClientOpen: Couldn't connect to HOST:902") and the
// Open tries the next one.
func (c *connection) checkNFC() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	collector := property.DefaultCollector(c.client)
	var vm mo.VirtualMachine
	if err := collector.RetrieveOne(ctx, c.vm, []string{"runtime.host"}, &vm); err != nil || vm.Runtime.Host == nil {
		return fail(vixHostNotConnected, "VM %s: no host to reach: %v", c.vm.Value, err)
	}
	var host mo.HostSystem
	if err := collector.RetrieveOne(ctx, *vm.Runtime.Host, []string{"name", "config.network"}, &host); err != nil {
		return fail(vixHostNotConnected, "host %s: %v", vm.Runtime.Host.Value, err)
	}
	address := host.Name
	if host.Config != nil && host.Config.Network != nil {
		for _, vnic := range host.Config.Network.Vnic {
			if vnic.Device == "vmk0" && vnic.Spec.Ip != nil && vnic.Spec.Ip.IpAddress != "" {
				address = vnic.Spec.Ip.IpAddress
			}
		}
	}
	target := net.JoinHostPort(address, strconv.Itoa(nfcPort))
	conn, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return fail(vixCannotConnect, "NBD_ClientOpen: Couldn't connect to %s (ESXi host %s): %v", target, host.Name, err)
	}
	return conn.Close()
}
