package harvest

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error this package returns for one of these
// reasons wraps the matching sentinel, so callers can errors.Is them.
var (
	// ErrInsufficient means the healthy sources were credited with fewer
	// bits than the minimum: nothing should be sent. Harvest returns it
	// together with the report.
	ErrInsufficient = errors.New("harvest: not enough healthy entropy")

	// ErrUnavailable means a source is not present on this machine (no
	// device, no permission, no hardware). It never stops a run.
	ErrUnavailable = errors.New("harvest: source unavailable")

	// ErrRepetitionCount and ErrAdaptiveProportion are the two SP 800-90B
	// section 4.4 continuous health test failures.
	ErrRepetitionCount    = errors.New("harvest: repetition count test failed")
	ErrAdaptiveProportion = errors.New("harvest: adaptive proportion test failed")
	// ErrStartup means a source failed its start-up test (SP 800-90B
	// section 4.3): a health test failed within its first StartupSamples
	// samples, or it could not give that many. See StartupError.
	ErrStartup = errors.New("harvest: start-up test failed")

	// ErrCoarseTimer means the jitter source found the clock too coarse to
	// measure CPU timing jitter.
	ErrCoarseTimer = errors.New("harvest: jitter: timer too coarse")

	// ErrSeedPermissions means the seed file can be read by group or others.
	ErrSeedPermissions = errors.New("harvest: seed file readable by group or others")
	// ErrSeedSize means the seed file does not hold exactly SeedSize bytes.
	ErrSeedSize = errors.New("harvest: seed file has the wrong size")

	// Plugin failures: each is reported for that plugin alone.
	ErrPluginTimeout = errors.New("harvest: plugin ran past its time limit")
	ErrPluginOutput  = errors.New("harvest: plugin wrote more than it was asked for")
	ErrPluginShort   = errors.New("harvest: plugin wrote less than it was asked for")
	ErrPluginMemory  = errors.New("harvest: plugin hit its memory limit")
	ErrPluginTrap    = errors.New("harvest: plugin trapped")
	ErrPluginExit    = errors.New("harvest: plugin exited with an error")

	// ErrConfig means a Config value is out of range.
	ErrConfig = errors.New("harvest: bad configuration")
)

// UnavailableError says why a source is not available. It wraps
// ErrUnavailable.
type UnavailableError struct {
	Source string
	Reason string // public facts only: a path, an errno text
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("harvest: %s unavailable: %s", e.Source, e.Reason)
}

// Unwrap lets errors.Is(err, ErrUnavailable) succeed.
func (e *UnavailableError) Unwrap() error { return ErrUnavailable }

func unavailable(source, format string, args ...any) error {
	return &UnavailableError{Source: source, Reason: fmt.Sprintf(format, args...)}
}

// HealthError is a continuous health test failure. It names the test and
// the counts, never the sample values (they are secret material).
type HealthError struct {
	Test   string // "RCT" or "APT"
	Count  int    // the run length (RCT) or the count in the window (APT)
	Cutoff int    // the cutoff the count reached
	Offset int    // index of the sample at which the test failed
	err    error  // ErrRepetitionCount or ErrAdaptiveProportion
}

func (e *HealthError) Error() string {
	if e.Test == "RCT" {
		return fmt.Sprintf("harvest: repetition count test failed: a value repeated %d times at sample %d (cutoff %d)", e.Count, e.Offset, e.Cutoff)
	}
	return fmt.Sprintf("harvest: adaptive proportion test failed: a value occurred %d times in a window ending at sample %d (cutoff %d)", e.Count, e.Offset, e.Cutoff)
}

// Unwrap returns ErrRepetitionCount or ErrAdaptiveProportion.
func (e *HealthError) Unwrap() error { return e.err }

// StartupError is a failed start-up test. Err is the *HealthError of a
// test that failed within the first StartupSamples samples, or why the
// source did not give that many.
type StartupError struct {
	Tested int // samples that passed before the failure
	Err    error
}

func (e *StartupError) Error() string {
	return fmt.Sprintf("harvest: start-up test failed after %d of %d samples: %s",
		e.Tested, StartupSamples, strings.TrimPrefix(e.Err.Error(), "harvest: "))
}

// Unwrap lets errors.Is match ErrStartup and whatever Err matches.
func (e *StartupError) Unwrap() []error { return []error{ErrStartup, e.Err} }
