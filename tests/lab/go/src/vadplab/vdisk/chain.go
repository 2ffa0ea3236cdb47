package vdisk

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
)

type link struct {
	path   string
	desc   *Descriptor
	extent File
	bitmap []byte // nil for a base disk
	dirty  bool
}

// Chain is an open disk: its leaf and, unless opened as a single link, every parent.
type Chain struct {
	links      []*link // links[0] is the leaf
	readOnly   bool
	cidChanged bool
}

// Open opens the disk at path (a descriptor) and its parents, checking every CID link. With
// singleLink only that file is opened and sectors it does not hold read as zeros.
func Open(path string, readOnly, singleLink bool) (*Chain, error) {
	c := &Chain{readOnly: readOnly}
	current := path
	for {
		desc, err := ReadDescriptor(current)
		if err != nil {
			c.Close()
			if os.IsNotExist(err) {
				return nil, errorf(CodeFileNotFound, "%s: no such disk", current)
			}
			return nil, errorf(CodeDiskInvalid, "%v", err)
		}
		if len(c.links) > 0 {
			child := c.links[len(c.links)-1]
			if child.desc.ParentCID != desc.CID {
				mismatch := errorf(CodeCIDMismatch,
					"CID mismatch: %s expects its parent %s to have CID %s, but it has %s",
					filepath.Base(child.path), filepath.Base(current), child.desc.ParentCID, desc.CID)
				c.Close()
				return nil, mismatch
			}
		}
		l, err := openLink(current, desc, readOnly)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.links = append(c.links, l)
		if !desc.IsDelta() || singleLink {
			return c, nil
		}
		current = ParentPath(current, desc)
	}
}

func openLink(path string, desc *Descriptor, readOnly bool) (*link, error) {
	extent, err := openFile(extentPath(path, desc), readOnly)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, errorf(CodePartialChain, "%s: extent %s is missing", path, desc.ExtentFile)
		}
		return nil, errorf(CodeFileError, "%v", err)
	}
	l := &link{path: path, desc: desc, extent: extent}
	if desc.IsDelta() {
		l.bitmap = make([]byte, bitmapBytes(desc.Sectors))
		if _, err := extent.ReadAt(l.bitmap, desc.Capacity()); err != nil && err != io.EOF {
			extent.Close()
			return nil, errorf(CodeFileError, "reading the sector map of %s: %v", path, err)
		}
	}
	return l, nil
}

// Capacity in bytes.
func (c *Chain) Capacity() int64 { return c.links[0].desc.Capacity() }

// Leaf is the descriptor of the file writes go to.
func (c *Chain) Leaf() *Descriptor { return c.links[0].desc }

// LeafPath is the descriptor path of the leaf.
func (c *Chain) LeafPath() string { return c.links[0].path }

// Links are the descriptor paths from the leaf down to the base (or the single link).
func (c *Chain) Links() []string {
	paths := make([]string, len(c.links))
	for i, l := range c.links {
		paths[i] = l.path
	}
	return paths
}

func (c *Chain) check(length int, off int64) error {
	if off%SectorSize != 0 || length%SectorSize != 0 {
		return errorf(CodeInvalidArg, "I/O must be whole %d-byte sectors (offset %d, length %d)", SectorSize, off, length)
	}
	if off < 0 || off+int64(length) > c.Capacity() {
		return errorf(CodeOutOfRange, "I/O at %d+%d is beyond the disk's capacity %d", off, length, c.Capacity())
	}
	return nil
}

func (l *link) has(sector int64) bool { return l.bitmap[sector/8]&(1<<(sector%8)) != 0 }

// ReadAt reads whole sectors; each sector comes from the nearest link that holds it.
func (c *Chain) ReadAt(buf []byte, off int64) error {
	if err := c.check(len(buf), off); err != nil {
		return err
	}
	return c.read(0, buf, off)
}

func (c *Chain) read(i int, buf []byte, off int64) error {
	if i == len(c.links) {
		for j := range buf { // below a single link: nothing there
			buf[j] = 0
		}
		return nil
	}
	l := c.links[i]
	if l.bitmap == nil {
		return readFull(l.extent, buf, off)
	}
	first := off / SectorSize
	count := int64(len(buf)) / SectorSize
	for start := int64(0); start < count; {
		held := l.has(first + start)
		end := start + 1
		for end < count && l.has(first+end) == held {
			end++
		}
		part := buf[start*SectorSize : end*SectorSize]
		var err error
		if held {
			err = readFull(l.extent, part, off+start*SectorSize)
		} else {
			err = c.read(i+1, part, off+start*SectorSize)
		}
		if err != nil {
			return err
		}
		start = end
	}
	return nil
}

func readFull(f File, buf []byte, off int64) error {
	n, err := f.ReadAt(buf, off)
	if err == io.EOF {
		for j := n; j < len(buf); j++ {
			buf[j] = 0
		}
		return nil
	}
	if err != nil {
		return errorf(CodeFileError, "reading %s: %v", f.Name(), err)
	}
	return nil
}

// WriteAt writes whole sectors into the leaf. The first write after opening gives the leaf a
// new CID, as ESXi does, so children recorded against the old one no longer match.
func (c *Chain) WriteAt(buf []byte, off int64) error {
	if c.readOnly {
		return errorf(CodeFileReadOnly, "%s is open read-only", c.links[0].path)
	}
	if err := c.check(len(buf), off); err != nil {
		return err
	}
	l := c.links[0]
	if !c.cidChanged {
		l.desc.CID = newCID()
		if err := l.desc.Write(l.path); err != nil {
			return errorf(CodeFileError, "updating the CID of %s: %v", l.path, err)
		}
		c.cidChanged = true
	}
	if _, err := l.extent.WriteAt(buf, off); err != nil {
		return errorf(CodeFileError, "writing %s: %v", l.extent.Name(), err)
	}
	if l.bitmap != nil {
		for s := off / SectorSize; s < (off+int64(len(buf)))/SectorSize; s++ {
			l.bitmap[s/8] |= 1 << (s % 8)
		}
		l.dirty = true
	}
	return nil
}

// Flush stores the leaf's sector map.
func (c *Chain) Flush() error {
	for _, l := range c.links {
		if l.dirty {
			if _, err := l.extent.WriteAt(l.bitmap, l.desc.Capacity()); err != nil {
				return errorf(CodeFileError, "writing the sector map of %s: %v", l.path, err)
			}
			l.dirty = false
		}
	}
	return nil
}

// Close flushes and closes every link.
func (c *Chain) Close() error {
	err := c.Flush()
	for _, l := range c.links {
		l.extent.Close()
	}
	c.links = nil
	return err
}

// Allocated returns the byte ranges [start, end) that hold data anywhere in the chain: the
// written sectors of each delta, and of the base the allocated blocks (a thick base is
// allocated throughout). Ranges are sorted and merged.
func (c *Chain) Allocated() [][2]int64 {
	var ranges [][2]int64
	for _, l := range c.links {
		if l.bitmap != nil {
			ranges = append(ranges, bitmapRanges(l.bitmap, l.desc.Sectors)...)
		} else if l.desc.DDB["thinProvisioned"] != "1" {
			ranges = append(ranges, [2]int64{0, l.desc.Capacity()})
		} else {
			ranges = append(ranges, dataRanges(l.extent, l.desc.Capacity())...)
		}
	}
	return mergeRanges(ranges)
}

func bitmapRanges(bitmap []byte, sectors int64) [][2]int64 {
	var ranges [][2]int64
	for s := int64(0); s < sectors; {
		if bitmap[s/8] == 0 && s%8 == 0 {
			s += 8
			continue
		}
		if bitmap[s/8]&(1<<(s%8)) == 0 {
			s++
			continue
		}
		start := s
		for s < sectors && bitmap[s/8]&(1<<(s%8)) != 0 {
			s++
		}
		ranges = append(ranges, [2]int64{start * SectorSize, s * SectorSize})
	}
	return ranges
}

const (
	seekData = 3
	seekHole = 4
)

// dataRanges lists a sparse file's data regions with SEEK_DATA / SEEK_HOLE; a remote file
// (whose holes a client cannot see) is data throughout.
func dataRanges(extent File, size int64) [][2]int64 {
	f, local := extent.(*os.File)
	if !local {
		return [][2]int64{{0, size}}
	}
	var ranges [][2]int64
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		start, err := syscall.Seek(fd, off, seekData)
		if err != nil || start >= size {
			break
		}
		end, err := syscall.Seek(fd, start, seekHole)
		if err != nil || end > size {
			end = size
		}
		ranges = append(ranges, [2]int64{start, end})
		off = end
	}
	return ranges
}

func mergeRanges(ranges [][2]int64) [][2]int64 {
	if len(ranges) == 0 {
		return nil
	}
	sortRanges(ranges)
	merged := [][2]int64{ranges[0]}
	for _, r := range ranges[1:] {
		last := &merged[len(merged)-1]
		if r[0] <= last[1] {
			if r[1] > last[1] {
				last[1] = r[1]
			}
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

func sortRanges(r [][2]int64) {
	for i := 1; i < len(r); i++ { // insertion sort: lists are short and mostly sorted
		for j := i; j > 0 && r[j][0] < r[j-1][0]; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

// AllocatedBytes is the space the chain takes on its datastore: a thick base its whole
// capacity (the lab keeps it sparse on the host), the rest what their extents hold.
func (c *Chain) AllocatedBytes() int64 {
	var total int64
	for _, l := range c.links {
		var st syscall.Stat_t
		if l.bitmap == nil && l.desc.DDB["thinProvisioned"] != "1" {
			total += l.desc.Capacity()
		} else if f, local := l.extent.(*os.File); !local {
			total += l.desc.Capacity()
		} else if syscall.Fstat(int(f.Fd()), &st) == nil {
			total += st.Blocks * 512
		}
	}
	return total
}
