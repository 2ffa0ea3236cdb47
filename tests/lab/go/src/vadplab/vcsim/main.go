// Command vcsim is the lab's vCenter: govmomi's simulator (VPX model) served over TLS with a
// generated certificate, credentials it enforces, and the extensions under this folder.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on (port 0 picks a free one)")
	runDir := flag.String("run-dir", "", "folder for the certificate, the state file and the datastores")
	diskMiB := flag.Int64("disk-mib", 256, "capacity of the stock VMs' disks, MiB")
	lunCount := flag.Int("luns", 4, "SAN LUNs offered for Raw Device Mappings")
	lunMiB := flag.Int64("lun-mib", 512, "capacity of each LUN, MiB")
	flag.Parse()

	// Credentials come from the environment so they never show in the process list.
	user, password := os.Getenv("LAB_USER"), os.Getenv("LAB_PASSWORD")
	if *runDir == "" || user == "" || password == "" {
		log.Fatal("usage: LAB_USER=.. LAB_PASSWORD=.. vcsim -run-dir DIR [-listen ADDR]")
	}

	tlsConfig, thumbprints, err := loadOrCreateTLS(*runDir)
	if err != nil {
		log.Fatalf("TLS: %v", err)
	}

	model := simulator.VPX()
	// Datastore folders live under the run folder, so `lab down` can clean them up.
	if err := os.Setenv("TMPDIR", filepath.Join(*runDir, "datastores")); err != nil {
		log.Fatal(err)
	}
	_ = os.MkdirAll(os.Getenv("TMPDIR"), 0o700)
	if err := model.Create(); err != nil {
		log.Fatalf("creating the inventory: %v", err)
	}
	installExtensions()
	simulator.InstallLabAuthorization(user)
	if err := simulator.LabPrepareInventory(*diskMiB << 20); err != nil {
		log.Fatalf("preparing the stock VMs' disks: %v", err)
	}
	if err := simulator.LabAddProxy(); err != nil {
		log.Fatalf("adding the backup proxy VM: %v", err)
	}
	if err := simulator.LabStartNFC(); err != nil {
		log.Fatalf("opening the hosts' NFC ports: %v", err)
	}
	if err := simulator.LabAddLUNs(filepath.Join(*runDir, "luns"), *lunCount, *lunMiB<<20); err != nil {
		log.Fatalf("creating the LUNs: %v", err)
	}

	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(user, password)}
	model.Service.TLS = tlsConfig
	server := model.Service.NewServer()
	wrapHandler(server)

	state := map[string]interface{}{
		"url":               server.URL.Scheme + "://" + server.URL.Host + server.URL.Path,
		"host":              server.URL.Hostname(),
		"port":              server.URL.Port(),
		"pid":               os.Getpid(),
		"thumbprint_sha1":   thumbprints.sha1,
		"thumbprint_sha256": thumbprints.sha256,
		"ca_file":           filepath.Join(*runDir, "ca.pem"),
		"bios_uuid":         simulator.LabThisMachine()["bios_uuid"], // this machine's SMBIOS, as the lab models it
	}
	if err := writeJSONAtomically(filepath.Join(*runDir, "state.json"), state); err != nil {
		log.Fatalf("writing the state file: %v", err)
	}
	log.Printf("lab vCenter listening on %s", server.URL.Host)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	server.Close()
	model.Remove()
}

func writeJSONAtomically(path string, value interface{}) error {
	data, err := json.MarshalIndent(value, "", "  ")
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
