package harvest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPluginSleepStopped: a plugin that asks WASI poll_oneoff for a 60 s
// sleep is stopped at its 1 s limit, and reported as such. wazero's own
// nanosleep is a plain time.Sleep that no context ends.
func TestPluginSleepStopped(t *testing.T) {
	p := &pluginSource{name: "p", path: buildPlugin(t, "testdata/sleep.wat"), n: 16, pages: 16, timeout: time.Second}
	start := time.Now()
	_, err := p.Read(context.Background())
	took := time.Since(start)
	t.Logf("a plugin sleeping 60 s with a limit of 1s returned after %s: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, errPluginTimeout) || err.Error() != "ran past its time limit: stopped after 1s" {
		t.Errorf("got %v, want %v", err, errPluginTimeout)
	}
	if took > 30*time.Second { // the sleep is 60 s
		t.Errorf("returned after %s", took)
	}
}

// TestPluginSleepCanceled: the run's end (SIGTERM cancels its context)
// ends a plugin's sleep too, long before its limit.
func TestPluginSleepCanceled(t *testing.T) {
	p := &pluginSource{name: "p", path: buildPlugin(t, "testdata/sleep.wat"), n: 16, pages: 16, timeout: 2 * time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := p.Read(ctx)
	took := time.Since(start)
	t.Logf("canceled after 300ms, returned after %s: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "canceled: ") {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if took > 30*time.Second {
		t.Errorf("returned after %s", took)
	}
}
