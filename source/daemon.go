package source

import (
	"context"
	"time"
)

// Daemon runs Run at once and then every period (DaemonPeriod if zero),
// as the original's source did on systems without cron, until stop is
// closed or ctx ends. Every run is given ctx: closing stop lets the run
// in progress finish, ending ctx cuts it short (ErrInterrupted). Each
// run's report or error, and the time it took, go to done; a failing run
// does not stop the daemon (a broken targets file may be fixed while it
// waits).
func Daemon(ctx context.Context, stop <-chan struct{}, cfg Config, period time.Duration, done func(*Report, error, time.Duration)) {
	if period <= 0 {
		period = DaemonPeriod
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		start := time.Now()
		rep, err := Run(ctx, cfg)
		done(rep, err, time.Since(start))
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
		}
	}
}
