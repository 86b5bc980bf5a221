package main

// This file is the only place that knows where a run's entropy comes from:
// the harvest package (local sources, health tests, plugins, the seed file).

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/entropyshare/entropyshare/harvest"
	"github.com/entropyshare/entropyshare/source"
	"github.com/spf13/pflag"
)

// backend is what the command needs from the entropy generator.
type backend interface {
	// AddFlags registers the generator's own flags (plugins and such).
	AddFlags(fs *pflag.FlagSet)
	// Harvester returns the harvester for one run; seedPath may be "".
	Harvester(seedPath string) source.Harvester
	// Report harvests once and writes the table of sources and their
	// health to w.
	Report(ctx context.Context, seedPath string, w io.Writer) error
}

// harvestBackend gathers with harvest.Harvest, configured by its flags.
type harvestBackend struct {
	cfg *harvest.Config
}

func newHarvestBackend() harvestBackend { return harvestBackend{cfg: &harvest.Config{}} }

func (b harvestBackend) AddFlags(fs *pflag.FlagSet) { b.cfg.AddFlags(fs) }

func (b harvestBackend) Harvester(seedPath string) source.Harvester {
	return func(ctx context.Context) (io.Reader, error) {
		g, _, err := harvest.Harvest(ctx, *b.cfg, seedPath)
		if err != nil {
			return nil, shortfall(err)
		}
		return g, nil
	}
}

func (b harvestBackend) Report(ctx context.Context, seedPath string, w io.Writer) error {
	rep, err := harvest.Gather(ctx, *b.cfg)
	if rep != nil {
		if werr := rep.WriteTable(w); werr != nil {
			return werr
		}
	}
	if err != nil {
		return shortfall(err)
	}
	if !rep.Sufficient() {
		return shortfall(harvest.ErrInsufficient)
	}
	return nil
}

// shortfall makes harvest's shortfall the source's, which exits 3.
func shortfall(err error) error {
	if errors.Is(err, harvest.ErrInsufficient) {
		return fmt.Errorf("%w: %w", source.ErrInsufficient, err)
	}
	return err
}
