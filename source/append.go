package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// Append adds t to the targets file at path, under the run lock so that a
// run in progress cannot overwrite it, keeping every other entry and its
// unknown fields. A missing file is created (mode 0644). An entry with the
// same Address and Public is refused with ErrDuplicate; a broken file is
// refused (ErrConfig) and left as it is.
func Append(ctx context.Context, path string, t *Target, lockWait time.Duration) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("source: new target: %w", err)
	}
	unlock, err := lock(ctx, path, lockWait, true)
	if err != nil {
		return err
	}
	defer unlock()
	ts, err := LoadTargets(path)
	if errors.Is(err, fs.ErrNotExist) {
		ts, err = &Targets{}, nil
	}
	if err != nil {
		return err
	}
	for i, o := range ts.Entries {
		if o.Address == t.Address && o.Public == t.Public {
			return &fileError{Path: path, Index: i, Name: o.Name, Address: o.Address,
				Err: fmt.Errorf("%w: an entry for this Address and Public exists", ErrDuplicate)}
		}
	}
	c := *t
	ts.Entries = append(ts.Entries, &c)
	ts.single = false
	return ts.Save(path)
}
