// Lab extension: an ESXi host's product version and build, set through POST /lab/faults
// {"hosts": {NAME: {"version": "6.0.0", "build": "3029758"}}}, so a host of a release with known
// CBT defects can be shown (the stock hosts are 6.5.0); and its NFC port opened or closed.
package simulator

import (
	"fmt"

	"github.com/vmware/govmomi/vim25/types"
)

// LabHostOptions are what a test may set on one host: its release, and whether its NFC port
// answers (lab_nfc.go).
type LabHostOptions struct {
	Version string `json:"version"`
	Build   string `json:"build"`
	NFC     *bool  `json:"nfc"`
}

// LabConfigureHost sets the host's config.product and summary.config.product version and build,
// and opens or closes its NFC port.
func LabConfigureHost(name string, options LabHostOptions) error {
	for _, e := range Map.All("HostSystem") {
		host := e.(*HostSystem)
		if host.Name != name {
			continue
		}
		if options.NFC != nil && *options.NFC {
			if err := labOpenNFC(name); err != nil {
				return err
			}
		} else if options.NFC != nil {
			labCloseNFC(name)
		}
		if options.Version == "" {
			return nil
		}
		Map.WithLock(host, func() {
			product := host.Config.Product
			product.Version, product.Build = options.Version, options.Build
			product.FullName = fmt.Sprintf("VMware ESXi %s build-%s", options.Version, options.Build)
			host.Config.Product = product
			host.Summary.Config.Product = &product
			Map.Update(host, []types.PropertyChange{{Name: "config.product", Val: product},
				{Name: "summary.config.product", Val: &product}})
		})
		return nil
	}
	return fmt.Errorf("no host %q", name)
}
