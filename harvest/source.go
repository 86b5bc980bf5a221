package harvest

import (
	"context"
)

// A Source is one place entropy comes from. Read returns raw samples, one
// per byte, and must return within ctx's deadline. An error wrapping
// ErrUnavailable means the source is not present here; any other error
// means it is present but failed this run. Neither stops a run.
type Source interface {
	Name() string
	Read(ctx context.Context) (Reading, error)
}

// A Reading is one source's output for one run.
type Reading struct {
	// Data holds raw samples, one per byte. They are health-tested and then
	// mixed as they are.
	Data []byte
	// BitsPerSample is the source's assessed min-entropy per byte of Data,
	// in [0, 8]. The health tests use it; 0 means "mix, credit nothing" and
	// skips the tests (there is nothing credited for them to protect).
	BitsPerSample float64
	// Note is a short public remark for the report ("BeagleBone Black",
	// "interpreter").
	Note string
}
