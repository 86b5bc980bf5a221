package sink

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// maxLinks bounds the symbolic links resolveLink follows, as the kernel's
// 40 does.
const maxLinks = 40

// resolveLink follows path while it names a symbolic link and returns the
// path it leads to, which may not exist yet. The state file is written
// through it: an atomic replacement renames over the last component of
// the path it is given, so given the link it would replace the link with
// a file and leave its target behind, stale. Folders on the way are the
// kernel's to follow.
func resolveLink(path string) (string, error) {
	for range maxLinks {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) || err == nil && fi.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		target, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return "", fmt.Errorf("more than %d symbolic links", maxLinks)
}
