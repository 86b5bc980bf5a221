package source

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrConfig is wrapped by every error about the targets file's
	// contents or presence: a person has to fix the file.
	ErrConfig = errors.New("source: configuration error")

	// ErrLocked: another run holds the targets file's lock and did not let
	// go within the wait.
	ErrLocked = errors.New("source: another run holds the lock on the targets file")

	// ErrInsufficient is what a Harvester wraps when it could not gather
	// enough healthy entropy; a run that gets it sends nothing.
	ErrInsufficient = errors.New("source: not enough healthy entropy")

	// ErrDuplicate: an entry with the same Address and Public exists.
	ErrDuplicate = errors.New("source: duplicate target")
)

// fileError is an error about the targets file, naming the entry (Index
// from 0, with its Name and Address where it has them) and the field.
// Index is -1 for an error about the whole file.
type fileError struct {
	Path    string
	Index   int
	Name    string
	Address string
	Field   string
	Err     error
}

func (e *fileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "source: %s", e.Path)
	if e.Index >= 0 {
		fmt.Fprintf(&b, ": entry %d", e.Index)
		var who []string
		if e.Name != "" {
			who = append(who, fmt.Sprintf("Name %q", e.Name))
		}
		if e.Address != "" {
			who = append(who, fmt.Sprintf("Address %q", e.Address))
		}
		if len(who) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(who, ", "))
		}
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %s", e.Field)
	}
	fmt.Fprintf(&b, ": %s", strings.TrimPrefix(e.Err.Error(), "source: "))
	return b.String()
}

func (e *fileError) Unwrap() error { return e.Err }

// Is makes every fileError a configuration error.
func (e *fileError) Is(target error) bool { return target == ErrConfig }
