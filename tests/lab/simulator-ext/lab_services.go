// Lab extension: a booted guest serves the TCP ports its own disk says it serves, on the address
// its VMware Tools report (a loopback address, see labGuestIP), from the moment Tools run until
// they stop. A recovery drill's TCP check then meets a real listener, or none, as it would meet a
// restored guest's sshd. The guest's "operating system" names its services in sector 3 of the disk
// it booted from, as a line "VADPLAB-LISTEN <port> <port> ...": a test writes it with guest-write,
// and backups, restores and drills carry it with the rest of the disk.

package simulator

import (
	"bytes"
	"net"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

const labServicesSector = 3

var (
	labServicePorts = map[types.ManagedObjectReference][]int{}          // read at boot
	labListeners    = map[types.ManagedObjectReference][]net.Listener{} // open while Tools run
)

// labReadServices notes the ports the boot disk names (none when it names none).
func labReadServices(vm *VirtualMachine, disk *types.VirtualDisk) {
	delete(labServicePorts, vm.Self)
	sector, err := labReadSectors(vm, disk, labServicesSector, 1)
	if err != nil || !bytes.HasPrefix(sector, []byte("VADPLAB-LISTEN ")) {
		return
	}
	line := string(sector[:bytes.IndexAny(sector, "\n\x00")])
	for _, field := range strings.Fields(line)[1:] {
		if port, err := strconv.Atoi(field); err == nil && port > 0 && port < 65536 {
			labServicePorts[vm.Self] = append(labServicePorts[vm.Self], port)
		}
	}
}

// labFollowServices opens the guest's listeners on ip while it runs, and closes them otherwise.
func labFollowServices(vm *VirtualMachine, ip string) {
	if ip == "" {
		for _, listener := range labListeners[vm.Self] {
			listener.Close()
		}
		delete(labListeners, vm.Self)
		return
	}
	if _, open := labListeners[vm.Self]; open {
		return
	}
	labListeners[vm.Self] = []net.Listener{}
	for _, port := range labServicePorts[vm.Self] {
		listener, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			continue // another guest's address and port: this service does not start, as on a real guest
		}
		labListeners[vm.Self] = append(labListeners[vm.Self], listener)
		go func() {
			for {
				conn, err := listener.Accept()
				if err != nil {
					return // closed: the guest stopped
				}
				conn.Close()
			}
		}()
	}
}
