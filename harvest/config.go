package harvest

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/entropyshare/entropyshare/internal/tpm"
	"github.com/spf13/pflag"
)

// Config says which sources to gather from and how. The zero value is
// usable: every zero field means its default, and sources are
// auto-detected (kernel and jitter always, hwrng, adc and thermal where
// present).
type Config struct {
	// Sources lists the built-in sources to use: kernel, jitter, hwrng,
	// adc, thermal. Empty means all of them (those absent here report
	// themselves unavailable).
	Sources []string `json:"sources,omitempty"`
	// NoJitter drops the jitter source (for machines whose clock is too
	// coarse, or where CPU time is precious).
	NoJitter bool `json:"no_jitter,omitempty"`

	Files    []FileConfig    `json:"files,omitempty"`
	Commands []CommandConfig `json:"commands,omitempty"`
	Plugins  []PluginConfig  `json:"plugins,omitempty"`

	// Credit sets bits of min-entropy per byte by source name. For a
	// built-in source it can only lower the assessed value; for files,
	// commands and plugins it is the assessment (they credit 0 without
	// it). Values are clamped to [0, 8].
	Credit map[string]float64 `json:"credit,omitempty"`

	// MinBits is the least credited entropy a run accepts; below it
	// Harvest returns ErrInsufficient. 0 means DefaultMinBits (256).
	MinBits int `json:"min_bits,omitempty"`
	// AlphaLog2 sets the health tests' false-positive rate 2^-AlphaLog2
	// (20..40; 0 means DefaultAlphaLog2 = 30).
	AlphaLog2 int `json:"alpha_log2,omitempty"`

	// SourceTimeout bounds each source's read (nanoseconds in JSON; 0
	// means DefaultSourceTimeout).
	SourceTimeout time.Duration `json:"source_timeout,omitempty"`
	KernelBytes   int           `json:"kernel_bytes,omitempty"`
	JitterSamples int           `json:"jitter_samples,omitempty"`
	HWRNGPath     string        `json:"hwrng_path,omitempty"`
	// TPMDevice is the TPM the tpm source reads: a device or
	// tcp://HOST:PORT ("" means /dev/tpmrm0).
	TPMDevice string `json:"tpm_device,omitempty"`
	// SysfsRoot is where sys/ is found for the board sources ("/" when
	// empty); tests point it at a fake tree.
	SysfsRoot string `json:"sysfs_root,omitempty"`

	// WasmCache is the plugin compilation cache folder: "" for
	// DefaultWasmCacheDir, "off" for none.
	WasmCache         string        `json:"wasm_cache,omitempty"`
	PluginMemoryPages uint32        `json:"plugin_memory_pages,omitempty"`
	PluginTimeout     time.Duration `json:"plugin_timeout,omitempty"`

	// ReseedInterval, when positive, makes the generator Harvest returns
	// gather again and reseed on the first Read after each interval (for
	// long-running processes; a cron run does not need it).
	ReseedInterval time.Duration `json:"reseed_interval,omitempty"`
}

// FileConfig is a file or device source.
type FileConfig struct {
	Name  string `json:"name,omitempty"` // default "file:" + base name
	Path  string `json:"path"`
	Bytes int    `json:"bytes,omitempty"` // default DefaultFileBytes
}

// CommandConfig is a command whose standard output is a source.
type CommandConfig struct {
	Name    string `json:"name,omitempty"` // default "command:" + first word
	Command string `json:"command"`        // run with /bin/sh -c
	Bytes   int    `json:"bytes,omitempty"`
}

// PluginConfig is a WebAssembly plugin source.
type PluginConfig struct {
	Name   string  `json:"name,omitempty"` // default "plugin:" + base name without .wasm
	Path   string  `json:"path"`
	Bytes  int     `json:"bytes,omitempty"`  // bytes asked for, default DefaultPluginBytes
	Credit float64 `json:"credit,omitempty"` // bits per byte; Config.Credit by name also works
	// Dirs are host folders mounted read-only at the same path inside the
	// sandbox. None by default.
	Dirs []string `json:"dirs,omitempty"`
	// Env adds environment variables beyond ENTROPY_BYTES.
	Env map[string]string `json:"env,omitempty"`
}

// BuiltinSources are the names Config.Sources accepts.
var BuiltinSources = []string{"kernel", "jitter", "hwrng", "adc", "thermal", "tpm"}

// AddFlags registers the harvest flags on fs, with the current values of
// c as defaults (zero fields show the package defaults).
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	if c.MinBits == 0 {
		c.MinBits = DefaultMinBits
	}
	fs.Var(&listValue[PluginConfig]{list: &c.Plugins, parse: func(s string) PluginConfig { return PluginConfig{Path: s} }},
		"plugin", "WebAssembly entropy plugin `FILE.wasm` (repeatable; credited 0 bits unless --credit NAME=BITS)")
	fs.Var(&listValue[FileConfig]{list: &c.Files, parse: func(s string) FileConfig { return FileConfig{Path: s} }},
		"source-file", "file or device `PATH` to read as a source (repeatable; credited 0 bits unless --credit)")
	fs.Var(&listValue[CommandConfig]{list: &c.Commands, parse: func(s string) CommandConfig { return CommandConfig{Command: s} }},
		"source-command", "shell `COMMAND` whose output is a source (repeatable; credited 0 bits unless --credit)")
	fs.Var(&creditValue{m: &c.Credit}, "credit", "assessed `NAME=BITS` of entropy per byte for a source (repeatable; lowers a built-in source, sets the others)")
	fs.IntVar(&c.MinBits, "min-bits", c.MinBits, "least credited entropy a run accepts (exit 3 below it)")
	fs.StringSliceVar(&c.Sources, "sources", c.Sources, "built-in sources to use, from "+strings.Join(BuiltinSources, ",")+" (default: all present)")
	fs.BoolVar(&c.NoJitter, "no-jitter", c.NoJitter, "do not use the CPU jitter source")
	fs.StringVar(&c.WasmCache, "wasm-cache", c.WasmCache, "plugin compilation cache `DIR` (\"off\" for none; default ~/.cache/entropyshare/wazero)")
	fs.DurationVar(&c.PluginTimeout, "plugin-timeout", c.PluginTimeout, "time limit for each plugin (0: 5s)")
	fs.Uint32Var(&c.PluginMemoryPages, "plugin-memory-pages", c.PluginMemoryPages, "memory limit for each plugin in 64 KiB pages (0: 512, 32 MiB)")
	fs.DurationVar(&c.SourceTimeout, "source-timeout", c.SourceTimeout, "time limit for each other source (0: 5s)")
	fs.StringVar(&c.TPMDevice, "tpm-device", cmp.Or(c.TPMDevice, tpm.DefaultDevice), "TPM 2.0 `DEVICE` the tpm source reads, or tcp://HOST:PORT for a simulator")
}

// listValue is a repeatable flag appending one parsed item per use.
type listValue[T any] struct {
	list  *[]T
	parse func(string) T
	n     int
}

func (v *listValue[T]) Set(s string) error {
	if s == "" {
		return fmt.Errorf("empty value")
	}
	*v.list = append(*v.list, v.parse(s))
	v.n++
	return nil
}
func (v *listValue[T]) String() string { return "" }
func (v *listValue[T]) Type() string   { return "string" }

// creditValue parses NAME=BITS into a map.
type creditValue struct{ m *map[string]float64 }

func (v *creditValue) Set(s string) error {
	name, bits, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=BITS, got %q", s)
	}
	f, err := strconv.ParseFloat(bits, 64)
	if err != nil || f < 0 || f > 8 {
		return fmt.Errorf("bits per byte must be a number from 0 to 8, got %q", bits)
	}
	if *v.m == nil {
		*v.m = make(map[string]float64)
	}
	(*v.m)[name] = f
	return nil
}

func (v *creditValue) String() string {
	if v.m == nil || *v.m == nil {
		return ""
	}
	var parts []string
	for _, k := range sortedKeys(*v.m) {
		parts = append(parts, fmt.Sprintf("%s=%g", k, (*v.m)[k]))
	}
	return strings.Join(parts, ",")
}
func (v *creditValue) Type() string { return "NAME=BITS" }

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// resolved is a Config with every default filled in.
func (c Config) resolved() (Config, error) {
	if c.MinBits <= 0 {
		c.MinBits = DefaultMinBits
	}
	if c.AlphaLog2 == 0 {
		c.AlphaLog2 = DefaultAlphaLog2
	}
	if c.AlphaLog2 < 20 || c.AlphaLog2 > 40 {
		return c, fmt.Errorf("%w: alpha 2^-%d: SP 800-90B asks for 2^-20 to 2^-40", ErrConfig, c.AlphaLog2)
	}
	if c.SourceTimeout <= 0 {
		c.SourceTimeout = DefaultSourceTimeout
	}
	if c.KernelBytes <= 0 {
		c.KernelBytes = DefaultKernelBytes
	}
	if c.JitterSamples <= 0 {
		c.JitterSamples = DefaultJitterSamples
	}
	if c.HWRNGPath == "" {
		c.HWRNGPath = DefaultHWRNGPath
	}
	if c.SysfsRoot == "" {
		c.SysfsRoot = "/"
	}
	if c.PluginMemoryPages == 0 {
		c.PluginMemoryPages = DefaultPluginMemoryPages
	}
	if c.PluginTimeout <= 0 {
		c.PluginTimeout = DefaultPluginTimeout
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
	src     Source
	builtin bool    // the source assesses itself; Credit can only lower it
	credit  float64 // operator's bits per byte, or -1 for none
}

// buildSources turns a resolved Config into sources. cache may be nil.
func (c Config) buildSources(cache wasmCache) []sourceSpec {
	want := func(name string) bool {
		if name == "jitter" && c.NoJitter {
			return false
		}
		return len(c.Sources) == 0 || slices.Contains(c.Sources, name)
	}
	var specs []sourceSpec
	add := func(s Source, builtin bool) {
		specs = append(specs, sourceSpec{src: s, builtin: builtin, credit: creditFor(c, s.Name())})
	}
	if want("kernel") {
		add(kernelSource{n: c.KernelBytes}, true)
	}
	if want("jitter") {
		add(jitterSource{samples: c.JitterSamples}, true)
	}
	if want("hwrng") {
		add(hwrngSource{path: c.HWRNGPath, n: DefaultHWRNGBytes}, true)
	}
	if want("adc") {
		add(adcSource{root: c.SysfsRoot, samples: DefaultADCSamples, detect: c.SysfsRoot == "/"}, true)
	}
	if want("thermal") {
		add(thermalSource{root: c.SysfsRoot, reads: 4}, true)
	}
	if want("tpm") {
		add(tpmSource{device: c.TPMDevice, n: DefaultTPMBytes}, true)
	}
	return append(specs, c.externalSources(cache)...)
}

// externalSources are the files, commands and plugins: the operator
// assesses them (0 bits without a Credit entry).
func (c Config) externalSources(cache wasmCache) []sourceSpec {
	var specs []sourceSpec
	credit := func(name string) float64 { return creditFor(c, name) }
	add := func(s Source) {
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
	for _, f := range c.Files {
		name := f.Name
		if name == "" {
			name = "file:" + filepath.Base(f.Path)
		}
		name = unique(name)
		add(fileSource{name: name, path: f.Path, n: orDefault(f.Bytes, DefaultFileBytes), bits: max(credit(name), 0)})
	}
	for _, cmd := range c.Commands {
		name := cmd.Name
		if name == "" {
			first, _, _ := strings.Cut(strings.TrimSpace(cmd.Command), " ")
			name = "command:" + filepath.Base(first)
		}
		name = unique(name)
		add(commandSource{name: name, line: cmd.Command, n: orDefault(cmd.Bytes, DefaultCommandBytes), bits: max(credit(name), 0)})
	}
	for _, p := range c.Plugins {
		name := p.Name
		if name == "" {
			name = "plugin:" + strings.TrimSuffix(filepath.Base(p.Path), ".wasm")
		}
		name = unique(name)
		if v := credit(name); v >= 0 {
			p.Credit = v
		}
		p.Credit = min(max(p.Credit, 0), 8)
		add(&pluginSource{name: name, cfg: p, pages: c.PluginMemoryPages, timeout: c.PluginTimeout, cache: cache})
	}
	return specs
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}
