package vdisk

import "os"

// Consolidate merges the delta at childPath into its parent, as ESXi does when a snapshot is
// deleted: the parent receives every sector the child holds and takes the child's CID (its
// content is now the child's), and the child's files are removed. It fails with a CID mismatch,
// changing nothing, when the parent changed since the child was made.
func Consolidate(childPath string) (parentPath string, err error) {
	child, err := Open(childPath, true, true)
	if err != nil {
		return "", err
	}
	childDesc := child.Leaf()
	childLink := child.links[0]
	defer child.Close()
	if !childDesc.IsDelta() {
		return "", errorf(CodeInvalidArg, "%s is a base disk; there is nothing to consolidate it into", childPath)
	}
	parentPath = ParentPath(childPath, childDesc)
	parentDesc, err := ReadDescriptor(parentPath)
	if err != nil {
		return "", errorf(CodeFileNotFound, "the parent of %s: %v", childPath, err)
	}
	if parentDesc.CID != childDesc.ParentCID {
		return "", errorf(CodeCIDMismatch,
			"CID mismatch: %s expects its parent %s to have CID %s, but it has %s (the parent was written after the snapshot was taken)",
			childPath, parentPath, childDesc.ParentCID, parentDesc.CID)
	}
	parent, err := Open(parentPath, false, true)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 1<<20)
	for _, r := range bitmapRanges(childLink.bitmap, childDesc.Sectors) {
		for off := r[0]; off < r[1]; off += int64(len(buf)) {
			n := int64(len(buf))
			if r[1]-off < n {
				n = r[1] - off
			}
			if err := readFull(childLink.extent, buf[:n], off); err != nil {
				parent.Close()
				return "", err
			}
			if err := parent.WriteAt(buf[:n], off); err != nil {
				parent.Close()
				return "", err
			}
		}
	}
	if err := parent.Close(); err != nil {
		return "", err
	}
	// The parent's content is now the child's: it takes the child's CID, so disks made on top
	// of the child still match.
	merged, err := ReadDescriptor(parentPath)
	if err != nil {
		return "", err
	}
	merged.CID = childDesc.CID
	if err := merged.Write(parentPath); err != nil {
		return "", err
	}
	child.Close()
	if err := os.Remove(extentPath(childPath, childDesc)); err != nil {
		return "", err
	}
	return parentPath, os.Remove(childPath)
}

// SetParent points a delta at another parent file (after the one it had was consolidated away).
func SetParent(childPath, parentPath string) error {
	d, err := ReadDescriptor(childPath)
	if err != nil {
		return err
	}
	d.ParentFileNameHint = relativeTo(childPath, parentPath)
	return d.Write(childPath)
}
