package main

// This file is the only place that knows where a run's entropy comes from:
// the harvest package (local sources, health tests, plugins, the seed
// file), and the flags that configure it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/entropyshare/entropyshare/harvest"
	"github.com/entropyshare/entropyshare/internal/tpm"
	"github.com/entropyshare/entropyshare/source"
	"github.com/spf13/pflag"
)

// addHarvestFlags registers the harvest flags on fs, to fill c.
func addHarvestFlags(fs *pflag.FlagSet, c *harvest.Config) {
	fs.Var(listValue{&c.Plugins}, "plugin", "WebAssembly entropy plugin `FILE.wasm` (repeatable; credited 0 bits unless --credit NAME=BITS)")
	fs.Var(listValue{&c.Files}, "source-file", "file or device `PATH` to read as a source (repeatable; credited 0 bits unless --credit)")
	fs.Var(listValue{&c.Commands}, "source-command", "shell `COMMAND` whose output is a source (repeatable; credited 0 bits unless --credit)")
	fs.Var(creditValue{&c.Credit}, "credit", "assessed `NAME=BITS` of entropy per byte for a source (repeatable; lowers a built-in source, sets the others)")
	fs.IntVar(&c.MinBits, "min-bits", harvest.DefaultMinBits, "least credited entropy a run accepts (exit 3 below it)")
	fs.Var(sourcesValue{&c.Sources}, "sources", "built-in sources to use, from "+strings.Join(harvest.BuiltinSources, ",")+" (default: all present)")
	fs.BoolVar(&c.NoJitter, "no-jitter", false, "do not use the CPU jitter source")
	fs.StringVar(&c.WasmCache, "wasm-cache", "", "plugin compilation cache `DIR` (\"off\" for none; default ~/.cache/entropyshare/wazero)")
	fs.DurationVar(&c.PluginTimeout, "plugin-timeout", 0, "time limit for each plugin, compiling included (0: 5s)")
	fs.Uint32Var(&c.PluginMemoryPages, "plugin-memory-pages", 0, "memory limit for each plugin in 64 KiB pages (0: 512, 32 MiB)")
	fs.Int64Var(&c.PluginMaxSize, "plugin-max-size", 0, "largest plugin module file in `BYTES` (0: 8388608, 8 MiB); compiling can take over 150 times that in memory")
	fs.DurationVar(&c.SourceTimeout, "source-timeout", 0, "time limit for each other source (0: 5s)")
	fs.StringVar(&c.TPMDevice, "tpm-device", tpm.DefaultDevice, "TPM 2.0 `DEVICE` the tpm source reads, or tcp://HOST:PORT for a simulator (default: the one a -k signer.tpm names)")
}

// listValue is a repeatable flag appending one value per use.
type listValue struct{ list *[]string }

func (v listValue) Set(s string) error {
	if s == "" {
		return errors.New("empty value")
	}
	*v.list = append(*v.list, s)
	return nil
}
func (v listValue) String() string { return "" }
func (v listValue) Type() string   { return "string" }

// sourcesValue is a comma-separated list of built-in source names,
// checked as it is parsed.
type sourcesValue struct{ list *[]string }

func (v sourcesValue) Set(s string) error {
	if s == "" {
		return nil
	}
	for name := range strings.SplitSeq(s, ",") {
		if !slices.Contains(harvest.BuiltinSources, name) {
			return fmt.Errorf("unknown source %q (want some of %s)", name, strings.Join(harvest.BuiltinSources, ", "))
		}
		*v.list = append(*v.list, name)
	}
	return nil
}
func (v sourcesValue) String() string { return strings.Join(*v.list, ",") }
func (v sourcesValue) Type() string   { return "strings" }

// creditValue parses NAME=BITS into a map.
type creditValue struct{ m *map[string]float64 }

func (v creditValue) Set(s string) error {
	name, bits, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=BITS, got %q", s)
	}
	f, err := strconv.ParseFloat(bits, 64)
	if err != nil || !(f >= 0 && f <= 8) {
		return fmt.Errorf("bits per byte must be a number from 0 to 8, got %q", bits)
	}
	if *v.m == nil {
		*v.m = make(map[string]float64)
	}
	(*v.m)[name] = f
	return nil
}
func (v creditValue) String() string { return "" }
func (v creditValue) Type() string   { return "NAME=BITS" }

// harvester is the source's Harvester: one harvest as cfg says, with the
// seed file at seedPath ("" for none). cfg is read when it runs, after
// the flags are parsed. report, if not nil, is given each harvest's report.
func harvester(cfg *harvest.Config, seedPath string, report func(*harvest.Report)) source.Harvester {
	return func(ctx context.Context) (io.Reader, error) {
		g, rep, err := harvest.Harvest(ctx, *cfg, seedPath)
		if report != nil && rep != nil {
			report(rep)
		}
		if errors.Is(err, harvest.ErrInsufficient) {
			return nil, shortfall{err}
		}
		if err != nil {
			return nil, err
		}
		return g, nil
	}
}

// shortfall is harvest's ErrInsufficient as a source.Harvester reports
// it: errors.Is matches source.ErrInsufficient too, and the message is
// harvest's alone.
type shortfall struct{ error }

func (e shortfall) Unwrap() error        { return e.error }
func (e shortfall) Is(target error) bool { return target == source.ErrInsufficient }
