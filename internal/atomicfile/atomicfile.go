// Package atomicfile replaces files atomically and durably.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
	t, err := pending(path, data, perm)
	if err != nil {
		return err
	}
	defer t.Cleanup()
	return t.CloseAtomicallyReplace()
}

// pending writes data to a temporary file beside path, with exactly mode
// perm, ready to be renamed over it. Not renameio.WriteFile: it keeps an
// existing file's mode, and a file written 0644 must come back 0600.
func pending(path string, data []byte, perm os.FileMode) (*renameio.PendingFile, error) {
	t, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithStaticPermissions(perm))
	if err != nil {
		return nil, err
	}
	if _, err := t.Write(data); err != nil {
		t.Cleanup()
		return nil, err
	}
	return t, nil
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

// RemoveTemp removes the temporary files that WriteFile and Replace leave
// beside path when the process dies before renaming them: the regular
// files in path's folder named "." + path's base name + digits. The
// caller must hold whatever lock serialises the writers of path, or it
// may remove a file another writer is about to rename.
func RemoveTemp(path string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	prefix := "." + base
	for _, e := range entries {
		digits, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
