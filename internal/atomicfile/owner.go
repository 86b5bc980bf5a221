package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteFileOwned is WriteFile that gives the new file to uid and gid
// before it replaces path, so that a file root rewrites for a service's
// user stays that user's (chown needs root). A uid or gid of -1 leaves that
// one as the writer's.
func WriteFileOwned(path string, data []byte, perm os.FileMode, uid, gid int) error {
	t, err := pending(path, data, perm)
	if err != nil {
		return err
	}
	defer t.Cleanup()
	if uid != -1 || gid != -1 {
		if err := t.Chown(uid, gid); err != nil {
			return err
		}
	}
	if err := t.CloseAtomicallyReplace(); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}
