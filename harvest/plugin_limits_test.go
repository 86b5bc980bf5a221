package harvest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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

// bigModule writes a module of about size bytes whose one function,
// _start, does nothing for size bytes (testdata/bigmodule).
func bigModule(t *testing.T, size int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), fmt.Sprintf("big%d.wasm", size))
	cmd := exec.Command("go", "run", ".", "-size", fmt.Sprint(size), "-o", out)
	cmd.Dir = filepath.Join("testdata", "bigmodule")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bigmodule: %v\n%s", err, b)
	}
	return out
}

// TestPluginTooLarge: a module over the size cap is refused before it
// is read whole, let alone compiled; a harvest reports it and goes on.
// The default cap is 8 MiB: a 24 MB module (5.6 s and 1.4 GB to compile
// here, 26 s and 3.2 GB in the interpreter) is skipped at once.
func TestPluginTooLarge(t *testing.T) {
	big := bigModule(t, 24_000_000)
	st, err := os.Stat(big)
	if err != nil {
		t.Fatal(err)
	}
	h := harvester{cfg: Config{Plugins: []string{big}, WasmCache: "off", MinBits: 8},
		sources: []entropySource{fakeSource{name: "ok", data: randBytes(64), bits: 8}}}
	start := time.Now()
	_, rep, err := h.harvest(context.Background(), "")
	t.Logf("a %d-byte plugin at the default cap: harvest took %s", st.Size(), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("harvest: plugin:big24000000: module too large: %s is %d bytes, over the limit of 8388608 (8 MiB)", big, st.Size())
	if s := rep.sources[1]; s.Err == nil || s.Err.Error() != want || !errors.Is(s.Err, errPluginSize) {
		t.Errorf("got %v, want %q", s.Err, want)
	}

	// A cap set lower than the default.
	tiny := buildPlugin(t, "../plugins/tiny/tiny.wat")
	st, err = os.Stat(tiny)
	if err != nil {
		t.Fatal(err)
	}
	for _, max := range []int64{st.Size() - 1, st.Size()} {
		p := &pluginSource{name: "p", path: tiny, n: 16, pages: 16, maxSize: max, timeout: 5 * time.Second}
		_, err := p.Read(context.Background())
		if over := max < st.Size(); over != errors.Is(err, errPluginSize) || (!over && err != nil) {
			t.Errorf("%d-byte module, cap %d: %v", st.Size(), max, err)
		}
	}
	if _, err := (Config{PluginMaxSize: -1}).resolved(); !errors.Is(err, ErrConfig) {
		t.Errorf("negative cap: %v", err)
	}
}

// TestPluginCompileAbandoned: compiling counts against a plugin's time
// limit. wazero cannot interrupt a compile, so one that outlives the
// limit is abandoned and the plugin reported; the abandoned compile
// still uses the cache, which closes when the compile ends (closing it
// under the compile would crash wazero's compiler).
func TestPluginCompileAbandoned(t *testing.T) {
	big := bigModule(t, 4_000_000) // about 1 s to compile here, one function
	cache, err := openWasmCache(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	p := &pluginSource{name: "p", path: big, n: 16, pages: 16, timeout: 50 * time.Millisecond, cache: cache}
	start := time.Now()
	_, err = p.Read(context.Background())
	t.Logf("a 4 MB module with a 50ms limit: %v after %s", err, time.Since(start).Round(time.Millisecond))
	if !errors.Is(err, errPluginTimeout) || err.Error() != "ran past its time limit: gave up compiling it after 50ms" {
		t.Errorf("got %v", err)
	}
	cache.Close(context.Background()) // the harvest lets go; the compile holds on
	// The abandoned compile ends on its own, then closes its runtime and
	// lets go of the cache.
	deadline := time.Now().Add(5 * time.Minute)
	for compiling() {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned compile is still running")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := cache.users.Load(); n != 0 {
		t.Errorf("cache has %d users left", n)
	}
}

// compiling reports whether an abandoned compile's goroutine is running.
func compiling() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*pluginSource).compile")
}
