package vdisk

import (
	"bytes"
	"path/filepath"
	"testing"
)

func sectors(fill byte, n int) []byte { return bytes.Repeat([]byte{fill}, n*SectorSize) }

func mustOpen(t *testing.T, path string) *Chain {
	t.Helper()
	c, err := Open(path, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChainReadsFallThroughAndCIDRulesHold(t *testing.T) {
	dir := t.TempDir()
	base, delta := filepath.Join(dir, "d.vmdk"), filepath.Join(dir, "d-000001.vmdk")
	if err := Create(base, CreateOptions{Capacity: 64 * SectorSize, Provisioning: Thin}); err != nil {
		t.Fatal(err)
	}
	c := mustOpen(t, base)
	if err := c.WriteAt(sectors(1, 8), 0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := CreateDelta(base, delta); err != nil {
		t.Fatal(err)
	}
	c = mustOpen(t, delta)
	if err := c.WriteAt(sectors(2, 2), 4*SectorSize); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8*SectorSize)
	if err := c.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	want := append(append(sectors(1, 4), sectors(2, 2)...), sectors(1, 2)...)
	if !bytes.Equal(got, want) {
		t.Fatal("a read did not fall through to the base where the delta holds nothing")
	}
	if err := c.WriteAt(make([]byte, 100), 0); err == nil {
		t.Fatal("a partial-sector write was accepted")
	}
	c.Close()

	// Writing the base under its child (what a SAN restore does) breaks the chain.
	b := mustOpen(t, base)
	if err := b.WriteAt(sectors(3, 1), 0); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := Open(delta, true, false); !CIDMismatch(err) {
		t.Fatalf("opening the child after its parent changed: want a CID mismatch, got %v", err)
	}
	if _, err := Consolidate(delta); !CIDMismatch(err) {
		t.Fatalf("consolidating: want a CID mismatch, got %v", err)
	}
}

func TestConsolidateMergesIntoTheParent(t *testing.T) {
	dir := t.TempDir()
	base, delta := filepath.Join(dir, "d.vmdk"), filepath.Join(dir, "d-000001.vmdk")
	if err := Create(base, CreateOptions{Capacity: 32 * SectorSize, Provisioning: Thin}); err != nil {
		t.Fatal(err)
	}
	if err := CreateDelta(base, delta); err != nil {
		t.Fatal(err)
	}
	c := mustOpen(t, delta)
	if err := c.WriteAt(sectors(7, 3), 10*SectorSize); err != nil {
		t.Fatal(err)
	}
	childCID := c.Leaf().CID
	c.Close()
	if _, err := Consolidate(delta); err != nil {
		t.Fatal(err)
	}
	b := mustOpen(t, base)
	defer b.Close()
	got := make([]byte, 3*SectorSize)
	if err := b.ReadAt(got, 10*SectorSize); err != nil || !bytes.Equal(got, sectors(7, 3)) {
		t.Fatalf("the child's sectors are not in the base after consolidation (%v)", err)
	}
	if b.Leaf().CID != childCID {
		t.Fatal("the base did not take the child's CID")
	}
	// A thin base reports allocation at the file system's block granularity, as VMFS does.
	if r := b.Allocated(); len(r) != 1 || r[0][0] > 10*SectorSize || r[0][1] < 13*SectorSize || r[0][0]%4096 != 0 {
		t.Fatalf("allocated ranges of the thin base: %v", r)
	}
}
