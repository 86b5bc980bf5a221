package source

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Remove deletes the entry whose Name or Address is name from the targets
// file at path, under the run lock, in one atomic and durable rewrite
// that keeps every other entry and its unknown fields, and returns it. A
// name that matches no entry (ErrNoSuchTarget) or several is refused
// (ErrConfig) and the file left as it is; so is a missing file, for which
// no lock file is made.
func Remove(ctx context.Context, path, name string, lockWait time.Duration) (*Target, error) {
	unlock, err := lock(ctx, path, lockWait, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ts, err := LoadTargets(path)
	if err != nil {
		return nil, err
	}
	var at []int
	for i, t := range ts.Entries {
		if t.matches(name) {
			at = append(at, i)
		}
	}
	switch len(at) {
	case 0:
		return nil, &fileError{Path: path, Index: -1, Err: fmt.Errorf("%w: no entry has the Name or Address %q", ErrNoSuchTarget, name)}
	case 1:
	default:
		s := make([]string, len(at))
		for k, i := range at {
			s[k] = fmt.Sprint(i)
		}
		return nil, &fileError{Path: path, Index: -1, Err: fmt.Errorf("%q names %d entries (%s); remove by Address if the Names clash, or edit the file", name, len(at), strings.Join(s, ", "))}
	}
	removed := ts.Entries[at[0]]
	ts.Entries = append(ts.Entries[:at[0]], ts.Entries[at[0]+1:]...)
	if err := ts.Save(path); err != nil {
		return nil, err
	}
	return removed, nil
}

// List reads the targets file at path under the run lock: after any run in
// progress has recorded its outcome. No lock file is made for a missing file.
func List(ctx context.Context, path string, lockWait time.Duration) (*Targets, error) {
	unlock, err := lock(ctx, path, lockWait, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return LoadTargets(path)
}
