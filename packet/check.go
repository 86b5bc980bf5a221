package packet

import "time"

// CheckDrift returns a *DriftError when timestamp is outside
// [now-drift, now+drift]. A negative drift is treated as zero.
func CheckDrift(timestamp int64, now time.Time, drift int64) error {
	drift = max(drift, 0)
	t := now.Unix()
	// The distance is computed in uint64, where it cannot overflow (any two
	// int64 values are less than 2^64 apart), rather than as t±drift.
	var dist uint64
	if timestamp < t {
		dist = uint64(t) - uint64(timestamp)
	} else {
		dist = uint64(timestamp) - uint64(t)
	}
	if dist > uint64(drift) {
		return &DriftError{Timestamp: timestamp, Now: t, Drift: drift}
	}
	return nil
}

// CheckCounter returns a *CounterError unless counter > stored.
func CheckCounter(counter, stored int64) error {
	if counter <= stored {
		return &CounterError{Counter: counter, Stored: stored}
	}
	return nil
}
