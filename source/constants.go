package source

import "time"

// Defaults for a targets-file entry (PROTOCOL.md: "Files").
const (
	// DefaultInterval is how often a sink is sent a packet when its entry
	// has no Interval: six hours, as the original's source did.
	DefaultInterval = 6 * time.Hour

	// defaultProtocol is the protocol used when an entry has no Protocol.
	defaultProtocol = 2
)

// Implementation defaults and limits, not part of any file format.
const (
	// DefaultConcurrency bounds the sinks a run talks to at once.
	DefaultConcurrency = 8

	// DefaultDialTimeout bounds connecting to one sink, name lookup
	// included: long enough for four lost SYNs (retried after 1, 3, 7 and
	// 15 s) on a lossy hotspot.
	DefaultDialTimeout = 30 * time.Second

	// DefaultIOTimeout bounds writing the frame and reading the reply. A
	// run sends to DefaultConcurrency sinks at once over one link: at
	// 300 B/s eight 1.6 KB frames take about 45 s together.
	DefaultIOTimeout = 60 * time.Second

	// DefaultLockWait is how long a run waits for another run's lock on
	// the targets file before giving up.
	DefaultLockWait = 5 * time.Second

	// minBackoff is the first retry delay after a failed delivery; it
	// doubles with each consecutive failure, up to the entry's Interval.
	minBackoff = time.Minute

	// maxCounterJump bounds how far ahead of ours a sink's reported stored
	// counter (status 0x02) may be for us to follow it. The reply is not
	// authenticated; a lying sink can make us skip at most this many
	// counters for itself, and never move a counter backwards.
	maxCounterJump = 1 << 32

	// spreadDivisor: a delivered entry's next time is Interval plus a
	// random spread of up to Interval/spreadDivisor, so that entries added
	// together drift apart instead of all firing in the same run.
	spreadDivisor = 16

	// maxTargetsFile bounds what a run reads: 16 MiB is some 50,000 entries.
	maxTargetsFile = 16 << 20

	// lockSuffix names the lock file beside the targets file.
	lockSuffix = ".lock"

	// DaemonPeriod is how often --daemon scans the targets file, as the
	// original's source did.
	DaemonPeriod = time.Minute
)
