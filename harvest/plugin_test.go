package harvest

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPluginGood(t *testing.T) {
	limit := 10 * time.Second // compiling included
	if raceEnabled {
		limit = 5 * time.Minute // compiling a Go plugin under -race takes most of a minute
	}
	for _, src := range []string{"../plugins/tiny/tiny.wat", "../plugins/gojitter"} {
		wasm := buildPlugin(t, src)
		p := &pluginSource{name: "p", path: wasm, n: 200, bits: 2, pages: defaultPluginMemoryPages, timeout: limit}
		r, err := p.Read(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if len(r.Data) != 200 || r.BitsPerSample != 2 {
			t.Fatalf("%s: %d bytes at %g bits", src, len(r.Data), r.BitsPerSample)
		}
		if err := checkHealth(r.Data, 0.5, defaultAlphaLog2); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// TestPluginsContained runs one harvest with a good plugin and every bad
// one: each bad one fails with its own clear error and the run goes on.
func TestPluginsContained(t *testing.T) {
	good := buildPlugin(t, "../plugins/tiny/tiny.wat")
	bad := map[string]struct {
		src  string
		want error
		text string
	}{
		"loop":     {"testdata/loop.wat", errPluginTimeout, "ran past its time limit"},
		"memhog":   {"testdata/memhog.wat", errPluginMemory, "memory limit"},
		"bigmem":   {"testdata/bigmem.wat", errPluginMemory, "declared memory exceeds the limit"},
		"huge":     {"testdata/huge.wat", errPluginOutput, "wrote more than it was asked for"},
		"trap":     {"testdata/trap.wat", errPluginTrap, "unreachable"},
		"openfile": {"testdata/openfile", errPluginExit, "status 3"},
	}
	limit := 2 * time.Second
	if raceEnabled {
		limit = 10 * time.Second // memhog's 127 memory.grow calls take seconds under -race
	}
	cfg := Config{
		Sources:           []string{"kernel"},
		WasmCache:         filepath.Join(t.TempDir(), "cache"),
		PluginTimeout:     limit,
		PluginMemoryPages: 128, // 8 MiB: enough for Go's 38 pages
		Plugins:           []string{good},
	}
	// A plugin is named after its file: plugin:tiny-1f for tiny-1f.wasm.
	nameOf := func(path string) string { return "plugin:" + strings.TrimSuffix(filepath.Base(path), ".wasm") }
	goodName := nameOf(good)
	cfg.Credit = map[string]float64{goodName: 8}
	which := map[string]string{} // plugin name -> key in bad
	for _, k := range sortedKeys(bad) {
		path := buildPlugin(t, bad[k].src)
		cfg.Plugins = append(cfg.Plugins, path)
		which[nameOf(path)] = k
	}
	// Compiling counts against a plugin's limit, and compiling the Go
	// plugin takes most of a minute under the race detector: compile it
	// into the cache first, as an earlier run would have.
	cache, err := openWasmCache(cfg.WasmCache)
	if err != nil {
		t.Fatal(err)
	}
	warm := &pluginSource{name: "warm", path: buildPlugin(t, bad["openfile"].src), n: pluginBytes, pages: cfg.PluginMemoryPages, timeout: 5 * time.Minute, cache: cache}
	if _, err := warm.Read(context.Background()); !errors.Is(err, errPluginExit) {
		t.Fatalf("warming the cache: %v", err)
	}
	cache.Close(context.Background())
	start := time.Now()
	g, rep, err := Harvest(context.Background(), cfg, "")
	if err != nil || g == nil {
		t.Fatalf("harvest: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second && !raceEnabled {
		t.Errorf("harvest took %s", d)
	}
	var tbl strings.Builder
	rep.WriteTable(&tbl)
	t.Log("\n" + tbl.String())
	for _, s := range rep.sources {
		if s.Name == goodName {
			if s.Err != nil || s.CreditedBits != 8*pluginBytes {
				t.Errorf("good plugin: %v, %g bits", s.Err, s.CreditedBits)
			}
			continue
		}
		want, ok := bad[which[s.Name]]
		if !ok {
			continue
		}
		if !errors.Is(s.Err, want.want) || !strings.Contains(s.Err.Error(), want.text) || !strings.HasPrefix(s.Err.Error(), "harvest: "+s.Name+": ") {
			t.Errorf("%s: got %v, want %v containing %q", s.Name, s.Err, want.want, want.text)
		}
		if s.CreditedBits != 0 || !s.Available {
			t.Errorf("%s: credited %g, available %v", s.Name, s.CreditedBits, s.Available)
		}
		delete(bad, which[s.Name])
	}
	if len(bad) > 0 {
		t.Errorf("not reported: %v", sortedKeys(bad))
	}
}

// TestPluginShortAndMissing: fewer bytes than asked, no file, not a
// command module.
func TestPluginShortAndMissing(t *testing.T) {
	tiny := buildPlugin(t, "../plugins/tiny/tiny.wat")
	// tiny refuses counts over 65536 with status 2.
	p := &pluginSource{name: "p", path: tiny, n: 70000, pages: 16, timeout: 5 * time.Second}
	if _, err := p.Read(context.Background()); !errors.Is(err, errPluginExit) {
		t.Errorf("too many bytes: %v", err)
	}
	p.path = filepath.Join(t.TempDir(), "none.wasm")
	if _, err := p.Read(context.Background()); !errors.Is(err, errUnavailable) {
		t.Errorf("missing: %v", err)
	}
	p.path = "testdata/README.md"
	if _, err := p.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "not a valid WebAssembly module") {
		t.Errorf("not wasm: %v", err)
	}
}

func TestPluginCacheDir(t *testing.T) {
	if c, err := openWasmCache("off"); c != nil || err != nil {
		t.Fatalf("off: %v %v", c, err)
	}
	d := filepath.Join(t.TempDir(), "c")
	c, err := openWasmCache(d)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
	if err := chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := openWasmCache(d); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("world-writable cache: %v", err)
	}
}
