package harvest

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package makes for one of these
// reasons wraps the matching sentinel. The exported ones are for callers
// and name the package. The others are why one source was left out of a
// run: the report's line for that source says "harvest: NAME: " before
// them, and nothing else ever shows them.
var (
	// ErrInsufficient means the healthy sources were credited with fewer
	// bits than the minimum: nothing should be sent. Harvest returns it
	// together with the report.
	ErrInsufficient = errors.New("harvest: not enough healthy entropy")

	// errUnavailable means a source is not present on this machine (no
	// device, no permission, no hardware). It never stops a run.
	errUnavailable = errors.New("unavailable")

	// errRepetitionCount and errAdaptiveProportion are the two SP 800-90B
	// section 4.4 continuous health test failures.
	errRepetitionCount    = errors.New("repetition count test failed")
	errAdaptiveProportion = errors.New("adaptive proportion test failed")
	// errStartup means a source failed its start-up test (SP 800-90B
	// section 4.3): a health test failed within its first startupSamples
	// samples, or it could not give that many. See startupError.
	errStartup = errors.New("start-up test failed")

	// errCoarseTimer means the jitter source found the clock too coarse to
	// measure CPU timing jitter.
	errCoarseTimer = errors.New("timer too coarse")

	// errSeedSize means the seed file does not hold exactly seedSize bytes.
	errSeedSize = errors.New("wrong size")

	// Plugin failures: each is reported for that plugin alone.
	errPluginTimeout = errors.New("ran past its time limit")
	errPluginSize    = errors.New("module too large")
	errPluginOutput  = errors.New("wrote more than it was asked for")
	errPluginShort   = errors.New("wrote less than it was asked for")
	errPluginMemory  = errors.New("hit its memory limit")
	errPluginTrap    = errors.New("trapped")
	errPluginExit    = errors.New("exited with an error")

	// ErrConfig means a Config value is out of range, or a path given
	// names a file of a kind that cannot be used there (a seed file that
	// is a named pipe, say).
	ErrConfig = errors.New("harvest: bad configuration")
)

// unavailableError says why a source is not available. It wraps
// errUnavailable.
type unavailableError struct {
	Reason string // public facts only: a path, an errno text
}

func (e *unavailableError) Error() string { return "unavailable: " + e.Reason }

// Unwrap lets errors.Is(err, errUnavailable) succeed.
func (e *unavailableError) Unwrap() error { return errUnavailable }

func unavailable(format string, args ...any) error {
	return &unavailableError{Reason: fmt.Sprintf(format, args...)}
}

// healthError is a continuous health test failure. It names the test and
// the counts, never the sample values (they are secret material).
type healthError struct {
	Test   string // "RCT" or "APT"
	Count  int    // the run length (RCT) or the count in the window (APT)
	Cutoff int    // the cutoff the count reached
	Offset int    // index of the sample at which the test failed
	err    error  // errRepetitionCount or errAdaptiveProportion
}

func (e *healthError) Error() string {
	if e.Test == "RCT" {
		return fmt.Sprintf("repetition count test failed: a value repeated %d times at sample %d (cutoff %d)", e.Count, e.Offset, e.Cutoff)
	}
	return fmt.Sprintf("adaptive proportion test failed: a value occurred %d times in a window ending at sample %d (cutoff %d)", e.Count, e.Offset, e.Cutoff)
}

// Unwrap returns errRepetitionCount or errAdaptiveProportion.
func (e *healthError) Unwrap() error { return e.err }

// startupError is a failed start-up test. Err is the *healthError of a
// test that failed within the first startupSamples samples, or why the
// source did not give that many.
type startupError struct {
	Tested int // samples that passed before the failure
	Err    error
}

func (e *startupError) Error() string {
	return fmt.Sprintf("start-up test failed after %d of %d samples: %v", e.Tested, startupSamples, e.Err)
}

// Unwrap lets errors.Is match errStartup and whatever Err matches.
func (e *startupError) Unwrap() []error { return []error{errStartup, e.Err} }
