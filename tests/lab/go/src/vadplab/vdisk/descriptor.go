// Package vdisk is the lab's virtual disk model, shared by the simulated vCenter and the VDDK
// test double: VMDK descriptor files, flat extents (sparse files of the disk's capacity), and
// delta disks whose extent holds the written sectors plus a bitmap of which sectors they hold.
// Reads fall through the chain; CIDs behave as on ESXi (a child whose parentCID no longer
// matches its parent cannot be opened).
package vdisk

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const SectorSize = 512

// NoParentCID is the parentCID of a base disk.
const NoParentCID = "ffffffff"

// Descriptor is a VMDK descriptor file: header fields, one extent, and the ddb keys.
type Descriptor struct {
	Version            int
	CID                string
	ParentCID          string
	CreateType         string // "vmfs" (flat) or "vmfsSparse" (delta)
	ParentFileNameHint string
	ExtentFile         string // relative to the descriptor's folder
	ExtentType         string // "VMFS" or "VMFSSPARSE"
	Sectors            int64
	DDB                map[string]string // keys without the "ddb." prefix
}

func newCID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	cid := hex.EncodeToString(b)
	if cid == NoParentCID || cid == "fffffffe" {
		return "0badc1d0"
	}
	return cid
}

// ReadDescriptor parses a descriptor file.
func ReadDescriptor(path string) (*Descriptor, error) {
	text, err := readFile(path)
	if err != nil {
		return nil, err
	}
	d := &Descriptor{DDB: map[string]string{}}
	scanner := bufio.NewScanner(bytes.NewReader(text))
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "RW ") || strings.HasPrefix(line, "RDONLY ") {
			fields := strings.Fields(line)
			if len(fields) < 4 {
				return nil, fmt.Errorf("%s: bad extent line %q", path, line)
			}
			d.Sectors, err = strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: bad extent size in %q", path, line)
			}
			d.ExtentType = fields[2]
			d.ExtentFile = strings.Trim(strings.Join(fields[3:], " "), "\"")
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: unreadable line %q", path, line)
		}
		key = strings.TrimSpace(key)
		value = strings.Trim(strings.TrimSpace(value), "\"")
		switch {
		case key == "version":
			d.Version, _ = strconv.Atoi(value)
		case key == "CID":
			d.CID = value
		case key == "parentCID":
			d.ParentCID = value
		case key == "createType":
			d.CreateType = value
		case key == "parentFileNameHint":
			d.ParentFileNameHint = value
		case strings.HasPrefix(key, "ddb."):
			d.DDB[strings.TrimPrefix(key, "ddb.")] = value
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if d.ExtentFile == "" || d.CID == "" {
		return nil, fmt.Errorf("%s is not a VMDK descriptor (no CID or extent)", path)
	}
	return d, nil
}

// Write stores the descriptor atomically.
func (d *Descriptor) Write(path string) error {
	var b strings.Builder
	b.WriteString("# Disk DescriptorFile\n")
	fmt.Fprintf(&b, "version=%d\n", d.Version)
	b.WriteString("encoding=\"UTF-8\"\n")
	fmt.Fprintf(&b, "CID=%s\n", d.CID)
	fmt.Fprintf(&b, "parentCID=%s\n", d.ParentCID)
	fmt.Fprintf(&b, "createType=\"%s\"\n", d.CreateType)
	if d.ParentFileNameHint != "" {
		fmt.Fprintf(&b, "parentFileNameHint=\"%s\"\n", d.ParentFileNameHint)
	}
	b.WriteString("\n# Extent description\n")
	fmt.Fprintf(&b, "RW %d %s \"%s\"\n", d.Sectors, d.ExtentType, d.ExtentFile)
	b.WriteString("\n# The Disk Data Base\n#DDB\n\n")
	keys := make([]string, 0, len(d.DDB))
	for k := range d.DDB {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "ddb.%s = \"%s\"\n", k, d.DDB[k])
	}
	if r, rel := remoteFor(path); r != nil {
		return r.WriteFile(rel, []byte(b.String()))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func extentPath(descriptorPath string, d *Descriptor) string {
	return filepath.Join(filepath.Dir(descriptorPath), d.ExtentFile)
}

// Capacity in bytes.
func (d *Descriptor) Capacity() int64 { return d.Sectors * SectorSize }

// IsDelta tells a delta (child) disk from a base disk.
func (d *Descriptor) IsDelta() bool { return d.ParentCID != NoParentCID }
