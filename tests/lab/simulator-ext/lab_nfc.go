// Lab extension: each ESXi host's NFC service (TCP 902, what VDDK's NBD and NBDSSL transports
// reach) on a loopback address of its own, which the host's vmk0 reports (the stock hosts all
// said 127.0.0.1). POST /lab/faults {"hosts": {NAME: {"nfc": false}}} closes a host's port, as a
// firewall between the backup machine and the host does; true opens it again.
package simulator

import (
	"fmt"
	"net"
	"sort"
	"sync"

	"github.com/vmware/govmomi/vim25/types"
)

// LabNFCPort is ESXi's NFC port.
const LabNFCPort = 902

var (
	labNFCMu        sync.Mutex
	labNFCListeners = map[string]net.Listener{}
	labNFCAddresses = map[string]string{}
)

// LabStartNFC gives every host a loopback address (127.0.0.10, .11, ... in name order) and
// opens its NFC port there.
func LabStartNFC() error {
	var hosts []*HostSystem
	for _, e := range Map.All("HostSystem") {
		hosts = append(hosts, e.(*HostSystem))
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	for i, host := range hosts {
		address := fmt.Sprintf("127.0.0.%d", 10+i)
		labSetManagementAddress(host, address)
		labNFCMu.Lock()
		labNFCAddresses[host.Name] = address
		labNFCMu.Unlock()
		if err := labOpenNFC(host.Name); err != nil {
			return err
		}
	}
	return nil
}

// labSetManagementAddress makes vmk0 report address (the hosts share the stock network config,
// so the host gets copies of its own).
func labSetManagementAddress(host *HostSystem, address string) {
	Map.WithLock(host, func() {
		config := *host.Config
		network := *config.Network
		network.Vnic = append([]types.HostVirtualNic(nil), network.Vnic...)
		for i := range network.Vnic {
			if network.Vnic[i].Device == "vmk0" && network.Vnic[i].Spec.Ip != nil {
				ip := *network.Vnic[i].Spec.Ip
				ip.IpAddress = address
				network.Vnic[i].Spec.Ip = &ip
			}
		}
		config.Network = &network
		host.Config = &config
	})
}

func labOpenNFC(name string) error {
	labNFCMu.Lock()
	defer labNFCMu.Unlock()
	if labNFCListeners[name] != nil {
		return nil
	}
	listener, err := net.Listen("tcp", fmt.Sprintf("%s:%d", labNFCAddresses[name], LabNFCPort))
	if err != nil {
		return fmt.Errorf("host %s's NFC port: %v", name, err)
	}
	labNFCListeners[name] = listener
	go func() { // NFC itself is the double's: a connection only proves the port is open
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	return nil
}

func labCloseNFC(name string) {
	labNFCMu.Lock()
	defer labNFCMu.Unlock()
	if listener := labNFCListeners[name]; listener != nil {
		listener.Close()
		delete(labNFCListeners, name)
	}
}
