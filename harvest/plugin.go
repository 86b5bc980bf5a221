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
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/entropyshare/entropyshare/internal/privfile"
)

// Plugins are WebAssembly modules run with wazero. The ABI needs no SDK
// (plugins/README.md has the whole of it): a WASI command module (one
// that exports _start) is told how many bytes are wanted, as argv[1] and
// as the environment variable ENTROPY_BYTES, writes exactly that many
// bytes to standard output (fd 1) and exits 0.
//
// The sandbox: no files, no network, no environment beyond ENTROPY_BYTES;
// the module file capped at Config.PluginMaxSize; memory capped at
// Config.PluginMemoryPages; time, compiling included, capped by a context
// deadline that closes the module (WithCloseOnContextDone) and ends a
// sleep in poll_oneoff; standard output capped at the bytes
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
	maxSize int64 // bytes of module file (0: defaultPluginMaxSize)
	timeout time.Duration
	cache   *wasmCache // nil: compile every time
}

func (s *pluginSource) Name() string { return s.name }

func (s *pluginSource) withSamples(n int) entropySource {
	p := *s
	p.n = n
	return &p
}

func (s *pluginSource) Read(ctx context.Context) (reading, error) {
	// One limit for all the plugin costs: reading, compiling, running.
	ctx, cancel := context.WithTimeoutCause(ctx, s.timeout, errPluginTimeout)
	defer cancel()
	maxSize := s.maxSize
	if maxSize <= 0 {
		maxSize = defaultPluginMaxSize
	}
	wasm, err := readWasm(s.path, maxSize)
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
		rc = rc.WithCompilationCache(s.cache.c)
	}
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	t0 := time.Now()
	compiled, abandoned, err := s.compile(ctx, r, wasm)
	if abandoned { // r is the abandoned compile's to close
		if context.Cause(ctx) == errPluginTimeout {
			return reading{}, pluginErr(errPluginTimeout, "gave up compiling it after %s", s.timeout)
		}
		return reading{}, fmt.Errorf("canceled while compiling: %w", context.Cause(ctx))
	}
	defer r.Close(context.WithoutCancel(ctx))
	if err != nil {
		if strings.Contains(err.Error(), "memory") && strings.Contains(err.Error(), "limit") {
			return reading{}, pluginErr(errPluginMemory, "its declared memory exceeds the limit of %d pages (%d MiB): %v", s.pages, s.pages/16, firstLine(err))
		}
		return reading{}, fmt.Errorf("not a valid WebAssembly module: %v", firstLine(err))
	}
	compileTime := time.Since(t0)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		return reading{}, fmt.Errorf("wasi: %w", err)
	}
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

// compile compiles wasm in r, and gives up when ctx is done. wazero
// cannot be interrupted while it compiles (its decoder and interpreter
// never look at the context, its compiler only between functions and only
// with several workers), so a compile that outlives ctx is abandoned: it
// runs on in its goroutine, bounded by the module size cap, then closes r
// and lets go of the cache. abandoned says so; r is not the caller's any
// more then.
func (s *pluginSource) compile(ctx context.Context, r wazero.Runtime, wasm []byte) (m wazero.CompiledModule, abandoned bool, err error) {
	type result struct {
		m   wazero.CompiledModule
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := r.CompileModule(ctx, wasm)
		done <- result{m, err}
	}()
	select {
	case res := <-done:
		return res.m, false, res.err
	case <-ctx.Done():
	}
	s.cache.hold()
	go func() {
		<-done
		r.Close(context.Background())
		s.cache.Close(context.Background())
	}()
	return nil, true, nil
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

// readWasm reads the module file at path, of at most max bytes.
func readWasm(path string, max int64) ([]byte, error) {
	f, err := openRead(path, privfile.Regular)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	var b []byte
	if size <= max {
		b, err = io.ReadAll(io.LimitReader(f, max+1)) // it may have grown since
		if err != nil {
			return nil, err
		}
		size = int64(len(b))
	}
	if size > max {
		inMiB := ""
		if max%(1<<20) == 0 {
			inMiB = fmt.Sprintf(" (%d MiB)", max>>20)
		}
		return nil, pluginErr(errPluginSize, "%s is %d bytes, over the limit of %d%s", path, size, max, inMiB)
	}
	return b, nil
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
func openWasmCache(dir string) (*wasmCache, error) {
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
	w := &wasmCache{c: c}
	w.users.Store(1)
	return w, nil
}

// wasmCache is wazero's compilation cache, shared by one harvest's
// plugins. A compile abandoned at its plugin's limit still uses it, and
// wazero's compiler fails if the cache closes under it, so the cache
// closes when its last user lets go: its opener, and each abandoned
// compile (hold). A nil *wasmCache is no cache.
type wasmCache struct {
	c     wazero.CompilationCache
	users atomic.Int32
}

// hold adds a user; Close lets one go.
func (w *wasmCache) hold() {
	if w != nil {
		w.users.Add(1)
	}
}

// Close lets go of the cache, and closes it if it was the last user.
func (w *wasmCache) Close(ctx context.Context) error {
	if w == nil || w.users.Add(-1) > 0 {
		return nil
	}
	return w.c.Close(ctx)
}

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
