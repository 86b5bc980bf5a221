// Package atomicfile replaces files atomically and durably.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// WriteFile replaces path with data: a temporary file in the same folder is
// written, fsynced and renamed over path, then the folder is fsynced so the
// rename itself survives a crash. The file gets exactly mode perm, whatever
// mode an earlier version had and whatever the umask says.
//
// A reader sees either the old contents or the new ones, never a mix, and
// after WriteFile returns nil the new contents are on stable storage.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if err := Replace(path, data, perm); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Replace is WriteFile without the folder's fsync: atomic, not durable.
// The new contents are on stable storage before the rename, so after a
// crash path holds the old contents or the new ones, complete, but it may
// be the old. For a rewrite whose loss is harmless, one fsync fewer.
func Replace(path string, data []byte, perm os.FileMode) error {
	// Not renameio.WriteFile: it keeps an existing file's mode, and a state
	// file the original wrote 0644 must come back 0600.
	t, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithStaticPermissions(perm))
	if err != nil {
		return err
	}
	defer t.Cleanup()
	if _, err := t.Write(data); err != nil {
		return err
	}
	return t.CloseAtomicallyReplace()
}

// SyncDir fsyncs a folder, making renames and creations in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
