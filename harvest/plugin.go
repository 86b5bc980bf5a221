package harvest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// Plugins are WebAssembly modules run with wazero. The ABI needs no SDK
// (plugins/README.md has the whole of it): a WASI command module (one
// that exports _start) is told how many bytes are wanted, as argv[1] and
// as the environment variable ENTROPY_BYTES, writes exactly that many
// bytes to standard output (fd 1) and exits 0.
//
// The sandbox: no files, no network, no environment beyond ENTROPY_BYTES;
// memory capped at Config.PluginMemoryPages; time capped by a context deadline that closes the
// module (WithCloseOnContextDone) and ends a sleep in poll_oneoff; standard output capped at the bytes
// asked for, and a plugin that writes more is stopped and excluded. Its
// random_get is crypto/rand and its clocks are the real ones (wazero's
// defaults are deterministic fakes). A plugin credits 0 bits unless the
// operator assesses it.
type pluginSource struct {
	name    string
	path    string
	n       int     // bytes asked for
	bits    float64 // the operator's assessment per byte
	pages   uint32
	timeout time.Duration
	cache   wasmCache // nil: compile every time
}

// maxWasmSize bounds the module file read into memory.
const maxWasmSize = 64 << 20

func (s *pluginSource) Name() string { return s.name }

func (s *pluginSource) withSamples(n int) entropySource {
	p := *s
	p.n = n
	return &p
}

func (s *pluginSource) Read(ctx context.Context) (reading, error) {
	wasm, err := readWasm(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return reading{}, unavailable("no %s", s.path)
	case errors.Is(err, fs.ErrPermission):
		return reading{}, unavailable("permission denied reading %s", s.path)
	case err != nil:
		return reading{}, err
	}
	n := s.n
	rc := wazero.NewRuntimeConfig(). // picks the compiler where it is supported, else the interpreter
						WithMemoryLimitPages(s.pages).
						WithCloseOnContextDone(true)
	if s.cache != nil {
		rc = rc.WithCompilationCache(s.cache)
	}
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	defer r.Close(context.WithoutCancel(ctx))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		return reading{}, fmt.Errorf("wasi: %w", err)
	}
	t0 := time.Now()
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		if strings.Contains(err.Error(), "memory") && strings.Contains(err.Error(), "limit") {
			return reading{}, pluginErr(errPluginMemory, "its declared memory exceeds the limit of %d pages (%d MiB): %v", s.pages, s.pages/16, firstLine(err))
		}
		return reading{}, fmt.Errorf("not a valid WebAssembly module: %v", firstLine(err))
	}
	compileTime := time.Since(t0)
	// The time limit covers running, not compiling: compile time depends
	// on the module's size and the engine, not on what the plugin does.
	ctx, cancel := context.WithTimeoutCause(ctx, s.timeout, errPluginTimeout)
	defer cancel()
	if _, ok := compiled.ExportedFunctions()["_start"]; !ok {
		return reading{}, errors.New("not a WASI command module (no _start export)")
	}

	stdout := &cappedWriter{max: n, overflow: cancel}
	var stderr bytes.Buffer
	mc := wazero.NewModuleConfig().
		WithName(s.name).
		WithArgs(s.name, strconv.Itoa(n)).
		WithEnv("ENTROPY_BYTES", strconv.Itoa(n)).
		WithStdout(stdout).
		WithStderr(&limitedBuffer{buf: &stderr, max: 512}).
		WithRandSource(rand.Reader).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(sleepUntilDone(ctx)).
		WithStartFunctions() // _start is called below, so memory can be inspected after a failure
	t1 := time.Now()
	mod, err := r.InstantiateModule(ctx, compiled, mc)
	if err != nil {
		return reading{}, s.classify(ctx, err, nil, stdout, &stderr)
	}
	defer mod.Close(context.WithoutCancel(ctx))
	_, err = mod.ExportedFunction("_start").Call(ctx)
	if err = s.classify(ctx, err, mod.Memory(), stdout, &stderr); err != nil {
		return reading{}, err
	}
	if len(stdout.buf) < n {
		return reading{}, pluginErr(errPluginShort, "wrote %d of %d bytes", len(stdout.buf), n)
	}
	note := fmt.Sprintf("compile %s, run %s", compileTime.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	return reading{Data: stdout.buf, BitsPerSample: s.bits, Note: note}, nil
}

// sleepUntilDone is a plugin's nanosleep (WASI poll_oneoff's clock
// wait): it returns when ns nanoseconds have passed or ctx, the plugin's
// limit and the run's end, is done. wazero's WithSysNanosleep is a plain
// time.Sleep that no context ends (wazero PR 1809, open). Cut short, the
// sleep returns as if it had run out; the module is closed by then
// (WithCloseOnContextDone), so the plugin never runs on after it.
func sleepUntilDone(ctx context.Context) func(ns int64) {
	return func(ns int64) {
		t := time.NewTimer(time.Duration(ns))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// memory is what classify needs of api.Memory.
type memory interface{ Size() uint32 }

// classify turns the result of running a plugin into one clear error.
func (s *pluginSource) classify(ctx context.Context, err error, mem memory, stdout *cappedWriter, stderr *bytes.Buffer) error {
	if stdout.over {
		return pluginErr(errPluginOutput, "more than %d bytes; it was stopped", stdout.max)
	}
	// Once its context is done a plugin is stopped, however it ended:
	// one woken early from a sleep may even return normally before the
	// module's closing catches it, and what it did after its limit must
	// not count.
	if ctx.Err() != nil {
		if context.Cause(ctx) == errPluginTimeout {
			return pluginErr(errPluginTimeout, "stopped after %s", s.timeout)
		}
		return fmt.Errorf("canceled: %w", context.Cause(ctx))
	}
	if err == nil {
		return nil
	}
	atLimit := mem != nil && uint64(mem.Size()) >= uint64(s.pages)*65536
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		if exit.ExitCode() == 0 {
			return nil
		}
		if atLimit {
			return pluginErr(errPluginMemory, "exited with status %d using all %d pages (%d MiB)", exit.ExitCode(), s.pages, s.pages/16)
		}
		return pluginErr(errPluginExit, "status %d%s", exit.ExitCode(), stderrNote(stderr.Bytes()))
	}
	if atLimit {
		return pluginErr(errPluginMemory, "trapped using all %d pages (%d MiB): %s", s.pages, s.pages/16, firstLine(err))
	}
	return pluginErr(errPluginTrap, "%s", firstLine(err))
}

// cappedWriter keeps up to max bytes. A write past max fails, marks the
// plugin as over its limit and stops it through overflow (its context's
// cancel).
type cappedWriter struct {
	buf      []byte
	max      int
	over     bool
	overflow func()
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.over || len(w.buf)+len(p) > w.max {
		w.over = true
		if w.overflow != nil {
			w.overflow()
		}
		return 0, fmt.Errorf("%w: cap of %d bytes", errPluginOutput, w.max)
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func readWasm(path string) ([]byte, error) {
	f, err := openRead(path, regularFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxWasmSize {
		return nil, fmt.Errorf("%s is %d bytes, more than %d", path, st.Size(), maxWasmSize)
	}
	return io.ReadAll(io.LimitReader(f, maxWasmSize+1))
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// defaultWasmCacheDir is where compiled plugins are cached:
// $XDG_CACHE_HOME/entropyshare/wazero or ~/.cache/entropyshare/wazero.
func defaultWasmCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "entropyshare", "wazero"), nil
}

// openWasmCache opens a compilation cache in dir ("" for the default,
// "off" for none; nil and no error then). The folder is created mode 0700;
// one that group or others can write is refused, since wazero runs the
// machine code it finds there.
func openWasmCache(dir string) (wazero.CompilationCache, error) {
	if dir == "off" {
		return nil, nil
	}
	if dir == "" {
		d, err := defaultWasmCacheDir()
		if err != nil {
			return nil, fmt.Errorf("harvest: opening wasm cache: %w", err)
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("harvest: opening wasm cache: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("harvest: opening wasm cache: %w", err)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("harvest: wasm cache %s is writable by group or others (mode %#o); fix: chmod 700 %s", dir, st.Mode().Perm(), dir)
	}
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, fmt.Errorf("harvest: opening wasm cache: %w", err)
	}
	return c, nil
}

// wasmCache is wazero's compilation cache.
type wasmCache = wazero.CompilationCache

// pluginError is a plugin's failure: Kind is one of the errPlugin
// sentinels, Detail the public facts.
type pluginError struct {
	Kind   error
	Detail string
}

func (e *pluginError) Error() string {
	if e.Detail == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Detail
}

// Unwrap returns Kind.
func (e *pluginError) Unwrap() error { return e.Kind }

func pluginErr(kind error, format string, args ...any) error {
	return &pluginError{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}
