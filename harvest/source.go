package harvest

import (
	"context"
)

// An entropySource is one place entropy comes from. Read returns raw samples, one
// per byte, and must return within ctx's deadline. An error wrapping
// errUnavailable means the source is not present here; any other error
// means it is present but failed this run. Neither stops a run. A run may
// call Read more than once, and each call should give the samples that
// follow the last call's: when a credited source's reading holds fewer
// than startupSamples samples, the start-up test reads on until it has
// tested that many (HEALTH.md).
type entropySource interface {
	Name() string
	Read(ctx context.Context) (reading, error)
}

// resizable is an entropySource that can be asked for a reading of at least n
// samples. The start-up test uses it to draw the samples it still needs
// in one Read rather than many (a plugin or a command costs a process or
// a module instance per Read).
type resizable interface {
	withSamples(n int) entropySource
}

// A reading is one source's output for one run.
type reading struct {
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
