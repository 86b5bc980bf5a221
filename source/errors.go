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

	// ErrInterrupted: the run's context ended before the run was done.
	// Nothing of its outcome is written: the due targets stay due, and
	// any counters reserved for them are skipped by the next run.
	ErrInterrupted = errors.New("source: run interrupted")

	// ErrDuplicate: an entry with the same Address and Public exists.
	// It is only returned wrapped in an error that names the package and
	// the file, so its own text has no prefix.
	ErrDuplicate = errors.New("duplicate target")
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
		b.WriteString(": " + entryLabel(e.Index, e.Name, e.Address))
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %s", e.Field)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *fileError) Unwrap() error { return e.Err }

// entryLabel names a targets-file entry in a message: its index from 0,
// with its Name and Address where it has them:
// `entry 2 (Name "lab", Address "10.0.0.7:8443")`.
func entryLabel(index int, name, address string) string {
	var who []string
	if name != "" {
		who = append(who, fmt.Sprintf("Name %q", name))
	}
	if address != "" {
		who = append(who, fmt.Sprintf("Address %q", address))
	}
	if len(who) == 0 {
		return fmt.Sprintf("entry %d", index)
	}
	return fmt.Sprintf("entry %d (%s)", index, strings.Join(who, ", "))
}

// Is makes every fileError a configuration error.
func (e *fileError) Is(target error) bool { return target == ErrConfig }
