package harvest

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config says which sources to gather from and how. The zero value uses
// every built-in source present, at the defaults.
type Config struct {
	// Sources lists the built-in sources to use, from BuiltinSources.
	// Empty means all of them (those absent here report themselves
	// unavailable).
	Sources []string
	// NoJitter drops the jitter source (for machines whose clock is too
	// coarse, or where CPU time is precious).
	NoJitter bool

	// Files are files or devices to read, Commands shell command lines
	// (run with /bin/sh -c) whose output to read, Plugins WebAssembly
	// plugins to run. Each is named after its path or first word
	// ("file:video0", "command:arecord", "plugin:gojitter") and credited 0
	// bits unless Credit assesses it.
	Files    []string
	Commands []string
	Plugins  []string

	// Credit sets bits of min-entropy per byte by source name. For a
	// built-in source it can only lower the assessed value; for files,
	// commands and plugins it is the assessment. Values must be in [0, 8].
	Credit map[string]float64

	// MinBits is the least credited entropy a run accepts; below it
	// Harvest returns ErrInsufficient. 0 means DefaultMinBits.
	MinBits int
	// TPMDevice is the TPM the tpm source reads: a device or
	// tcp://HOST:PORT ("" means /dev/tpmrm0).
	TPMDevice string

	// SourceTimeout bounds each source's read but a plugin's, and
	// PluginTimeout each plugin's, compiling included (0: 5s each);
	// PluginMemoryPages caps a plugin's memory in 64 KiB pages (0: 512,
	// 32 MiB), PluginMaxSize its module file in bytes (0: 8 MiB; compiling
	// a module can take more than 150 times its size in memory).
	SourceTimeout     time.Duration
	PluginTimeout     time.Duration
	PluginMemoryPages uint32
	PluginMaxSize     int64
	// WasmCache is the plugin compilation cache folder: "" for
	// ~/.cache/entropyshare/wazero, "off" for none.
	WasmCache string
}

// BuiltinSources are the names Config.Sources accepts.
var BuiltinSources = []string{"kernel", "jitter", "hwrng", "adc", "thermal", "tpm"}

// resolved is a Config with every default filled in.
func (c Config) resolved() (Config, error) {
	if c.MinBits <= 0 {
		c.MinBits = DefaultMinBits
	}
	if c.SourceTimeout <= 0 {
		c.SourceTimeout = defaultSourceTimeout
	}
	if c.PluginMemoryPages == 0 {
		c.PluginMemoryPages = defaultPluginMemoryPages
	}
	if c.PluginTimeout <= 0 {
		c.PluginTimeout = defaultPluginTimeout
	}
	if c.PluginMaxSize < 0 {
		return c, fmt.Errorf("%w: plugin size limit %d is negative", ErrConfig, c.PluginMaxSize)
	}
	if c.PluginMaxSize == 0 {
		c.PluginMaxSize = defaultPluginMaxSize
	}
	for _, s := range c.Sources {
		if !slices.Contains(BuiltinSources, s) {
			return c, fmt.Errorf("%w: unknown source %q (want some of %s)", ErrConfig, s, strings.Join(BuiltinSources, ", "))
		}
	}
	for name, v := range c.Credit {
		if !(v >= 0 && v <= 8) {
			return c, fmt.Errorf("%w: credit for %s is %g bits per byte, want 0 to 8", ErrConfig, name, v)
		}
	}
	return c, nil
}

// sourceSpec is a source with the rules for crediting it.
type sourceSpec struct {
	src     entropySource
	builtin bool    // the source assesses itself; Credit can only lower it
	credit  float64 // operator's bits per byte, or -1 for none
}

// buildSources turns a resolved Config into sources. cache may be nil.
func (c Config) buildSources(cache *wasmCache) []sourceSpec {
	want := func(name string) bool {
		if name == "jitter" && c.NoJitter {
			return false
		}
		return len(c.Sources) == 0 || slices.Contains(c.Sources, name)
	}
	var specs []sourceSpec
	add := func(s entropySource, builtin bool) {
		specs = append(specs, sourceSpec{src: s, builtin: builtin, credit: creditFor(c, s.Name())})
	}
	if want("kernel") {
		add(kernelSource{n: kernelBytes}, true)
	}
	if want("jitter") {
		add(jitterSource{samples: jitterSamples}, true)
	}
	if want("hwrng") {
		add(hwrngSource{path: hwrngPath, n: hwrngBytes}, true)
	}
	if want("adc") {
		add(adcSource{root: "/", samples: adcSamples, detect: true}, true)
	}
	if want("thermal") {
		add(thermalSource{root: "/", reads: 4}, true)
	}
	if want("tpm") {
		add(tpmSource{device: c.TPMDevice, n: tpmBytes}, true)
	}
	return append(specs, c.externalSources(cache)...)
}

// externalSources are the files, commands and plugins: the operator
// assesses them (0 bits without a Credit entry).
func (c Config) externalSources(cache *wasmCache) []sourceSpec {
	var specs []sourceSpec
	credit := func(name string) float64 { return creditFor(c, name) }
	add := func(s entropySource) {
		specs = append(specs, sourceSpec{src: s, builtin: false, credit: credit(s.Name())})
	}
	names := map[string]int{}
	unique := func(name string) string {
		names[name]++
		if k := names[name]; k > 1 {
			return fmt.Sprintf("%s#%d", name, k)
		}
		return name
	}
	for _, path := range c.Files {
		name := unique("file:" + filepath.Base(path))
		add(fileSource{name: name, path: path, n: fileBytes, bits: max(credit(name), 0)})
	}
	for _, line := range c.Commands {
		first, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		name := unique("command:" + filepath.Base(first))
		add(commandSource{name: name, line: line, n: commandBytes, bits: max(credit(name), 0)})
	}
	for _, path := range c.Plugins {
		name := unique("plugin:" + strings.TrimSuffix(filepath.Base(path), ".wasm"))
		add(&pluginSource{name: name, path: path, n: pluginBytes, bits: max(credit(name), 0),
			pages: c.PluginMemoryPages, maxSize: c.PluginMaxSize, timeout: c.PluginTimeout, cache: cache})
	}
	return specs
}
