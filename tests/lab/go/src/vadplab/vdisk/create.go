package vdisk

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Provisioning of a base disk.
type Provisioning string

const (
	Thin        Provisioning = "thin"
	LazyZeroed  Provisioning = "lazy_zeroed"
	EagerZeroed Provisioning = "eager_zeroed"
)

// CreateOptions describe a new base disk.
type CreateOptions struct {
	Capacity     int64 // bytes, a multiple of the sector size
	Provisioning Provisioning
	AdapterType  string // lsilogic, buslogic, ide, pvscsi, ...
	HWVersion    string // "13"
}

// Create writes a base disk: a descriptor and a flat extent of the full capacity. A thin extent
// is a sparse file; a thick one has every block allocated, as on VMFS.
func Create(path string, opts CreateOptions) error {
	if opts.Capacity <= 0 || opts.Capacity%SectorSize != 0 {
		return fmt.Errorf("capacity %d is not a positive multiple of %d", opts.Capacity, SectorSize)
	}
	base := strings.TrimSuffix(filepath.Base(path), ".vmdk")
	d := &Descriptor{
		Version:    1,
		CID:        newCID(),
		ParentCID:  NoParentCID,
		CreateType: "vmfs",
		ExtentFile: base + "-flat.vmdk",
		ExtentType: "VMFS",
		Sectors:    opts.Capacity / SectorSize,
		DDB:        map[string]string{},
	}
	adapter := opts.AdapterType
	if adapter == "" {
		adapter = "lsilogic"
	}
	hw := opts.HWVersion
	if hw == "" {
		hw = "13"
	}
	cylinders := d.Sectors / (255 * 63)
	if cylinders < 1 {
		cylinders = 1
	}
	d.DDB["adapterType"] = adapter
	d.DDB["geometry.cylinders"] = fmt.Sprint(cylinders)
	d.DDB["geometry.heads"] = "255"
	d.DDB["geometry.sectors"] = "63"
	d.DDB["longContentID"] = newCID() + newCID() + newCID() + newCID()
	d.DDB["uuid"] = diskUUID()
	d.DDB["virtualHWVersion"] = hw
	if opts.Provisioning == Thin || opts.Provisioning == "" {
		d.DDB["thinProvisioned"] = "1"
	}
	return writeBase(path, d)
}

// CreateLike writes an empty base disk at path (a local one) with the identity of d, a descriptor
// read elsewhere: its uuid, geometry, adapter, capacity and provisioning. A disk moved to another
// datastore starts as this, then gets the original's bytes.
func CreateLike(path string, d *Descriptor) error {
	like := *d
	like.DDB = map[string]string{}
	for k, v := range d.DDB {
		like.DDB[k] = v
	}
	like.ParentCID, like.ParentFileNameHint, like.CreateType, like.ExtentType = NoParentCID, "", "vmfs", "VMFS"
	like.ExtentFile = strings.TrimSuffix(filepath.Base(path), ".vmdk") + "-flat.vmdk"
	return writeBase(path, &like)
}

// writeBase writes d at path and its flat extent, empty, beside it.
func writeBase(path string, d *Descriptor) error {
	extent, err := os.OpenFile(extentPath(path, d), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer extent.Close()
	// Thick disks are thick in their descriptor (no thinProvisioned: allocated throughout, as
	// QueryAllocatedBlocks and the datastore see them) but sparse on the host: the lab's real VM
	// configs hold tens of GiB of thick disks, more than a test machine's free disk.
	err = extent.Truncate(d.Capacity())
	if err == nil {
		err = d.Write(path)
	}
	if err != nil {
		_ = os.Remove(extent.Name()) // a failed create leaves no file behind, as on a datastore
	}
	return err
}

// diskUUID is a disk uuid in the descriptor's form: "60 00 C2 9a ...".
func diskUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[0], b[1], b[2] = 0x60, 0x00, 0xC2
	parts := make([]string, 16)
	for i, v := range b {
		parts[i] = fmt.Sprintf("%02x", v)
	}
	return strings.Join(parts[:8], " ") + "-" + strings.Join(parts[8:], " ")
}

// CreateDelta writes a delta disk at childPath whose parent is parentPath (same folder, as
// ESXi's snapshots do), and returns it. The child records the parent's current CID.
func CreateDelta(parentPath, childPath string) error {
	parent, err := ReadDescriptor(parentPath)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(filepath.Base(childPath), ".vmdk")
	d := &Descriptor{
		Version:            1,
		CID:                newCID(),
		ParentCID:          parent.CID,
		CreateType:         "vmfsSparse",
		ParentFileNameHint: relativeTo(childPath, parentPath),
		ExtentFile:         base + "-delta.vmdk",
		ExtentType:         "VMFSSPARSE",
		Sectors:            parent.Sectors,
		DDB:                map[string]string{},
	}
	for _, k := range []string{"adapterType", "geometry.cylinders", "geometry.heads", "geometry.sectors",
		"uuid", "virtualHWVersion", "thinProvisioned"} {
		if v, ok := parent.DDB[k]; ok {
			d.DDB[k] = v
		}
	}
	d.DDB["longContentID"] = newCID() + newCID() + newCID() + newCID()
	extent, err := os.OpenFile(extentPath(childPath, d), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer extent.Close()
	// Data area of the full capacity (sparse), then the written-sector bitmap.
	if err := extent.Truncate(parent.Capacity() + bitmapBytes(parent.Sectors)); err != nil {
		return err
	}
	return d.Write(childPath)
}

func relativeTo(from, target string) string {
	if filepath.Dir(from) == filepath.Dir(target) {
		return filepath.Base(target)
	}
	return target
}

func bitmapBytes(sectors int64) int64 { return (sectors + 7) / 8 }

// Remove deletes a disk's descriptor and extent (not its parents).
func Remove(path string) error {
	d, err := ReadDescriptor(path)
	if err != nil {
		return err
	}
	if err := os.Remove(extentPath(path, d)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.Remove(path)
}

// ParentPath is the descriptor path of a delta's parent.
func ParentPath(path string, d *Descriptor) string {
	if filepath.IsAbs(d.ParentFileNameHint) {
		return d.ParentFileNameHint
	}
	return filepath.Join(filepath.Dir(path), d.ParentFileNameHint)
}
