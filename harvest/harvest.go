package harvest

// The API, in the order a run uses it:
//
//	Harvest(ctx, cfg, seedPath) (*Generator, *Report, error)
//	    reads the seed file, gathers every source in cfg, health-tests each
//	    (SP 800-90B 4.3 start-up, over at least its first 1024 samples, and
//	    4.4 continuous), credits the healthy ones, mixes them and the seed
//	    with BLAKE3 into a ChaCha20 key, and rewrites the seed file. Below
//	    cfg.MinBits it returns the report with ErrInsufficient and no
//	    generator, and leaves the seed file alone.
//	Harvester{Config, Sources, Now}.Harvest(ctx, seedPath)
//	    the same with sources injected (tests, embedders).
//	Gather(ctx, cfg) (*Report, error)
//	    the gathering and health testing alone, for `entropy-source sources`.
//	Report.WriteTable(w)
//	    the aligned table that command prints.
//	Generator: io.Reader; NewGenerator(key).
//	ReadSeedFile, WriteSeedFile, OpenWasmCache.
//	RCTCutoff, APTCutoff, NewHealthTest, CheckHealth: the health tests.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Harvest gathers entropy as cfg says and returns a seeded generator and
// the report. seedPath may be "" for no seed file. See Harvester.Harvest.
func Harvest(ctx context.Context, cfg Config, seedPath string) (*Generator, *Report, error) {
	h := Harvester{Config: cfg}
	return h.Harvest(ctx, seedPath)
}

// Gather reads and health-tests every source in cfg and reports, without
// seeding anything. It returns ErrInsufficient with the report when the
// credited total is below the minimum.
func Gather(ctx context.Context, cfg Config) (*Report, error) {
	h := Harvester{Config: cfg}
	rep, recs, err := h.gather(ctx)
	for _, r := range recs {
		clear(r.data)
	}
	return rep, err
}

// A Harvester runs harvests with sources that may be injected.
type Harvester struct {
	Config Config
	// Sources, when non-nil, replaces the built-in sources (kernel,
	// jitter, ...); the files, commands and plugins of Config are still
	// added. These sources assess themselves, and Config.Credit can only
	// lower them.
	Sources []Source
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (h *Harvester) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Harvest reads the seed file at seedPath (if not ""), gathers, and when
// at least Config.MinBits are credited mixes everything into a new
// generator and rewrites the seed file with its output. A seed file that
// others can read or has the wrong size is an error before anything is
// gathered. Sources that are unavailable, fail or fail their health tests
// are reported and left out; they never stop the run.
func (h *Harvester) Harvest(ctx context.Context, seedPath string) (*Generator, *Report, error) {
	if _, err := h.Config.resolved(); err != nil {
		return nil, nil, err
	}
	var prev []byte
	var err error
	seedState := "none"
	if seedPath != "" {
		if prev, err = ReadSeedFile(seedPath); err != nil {
			return nil, nil, err
		}
		seedState = "new"
		if prev != nil {
			seedState = "mixed"
		}
	}
	defer clear(prev)

	rep, recs, err := h.gather(ctx)
	if rep != nil {
		rep.Seed = seedState
	}
	defer func() {
		for _, r := range recs {
			clear(r.data)
		}
	}()
	if err != nil {
		return nil, rep, err
	}

	var stamp [8]byte
	binary.BigEndian.PutUint64(stamp[:], uint64(h.now().UnixNano()))
	all := append([]record{{"seed file", prev}, {"time", stamp[:]}}, recs...)
	key := mixKey(all)
	g := NewGenerator(key)
	clear(key[:])

	if seedPath != "" {
		if err := WriteSeedFile(seedPath, g); err != nil {
			return nil, rep, err
		}
		rep.Seed = "rewritten"
	}
	return g, rep, nil
}

// gather reads every source in turn, tests and credits it. The records
// are the healthy sources' data, for mixing. err is ErrInsufficient (with
// the counts), a configuration error, or ctx's error.
func (h *Harvester) gather(ctx context.Context) (*Report, []record, error) {
	start := h.now()
	cfg, err := h.Config.resolved()
	if err != nil {
		return nil, nil, err
	}
	rep := &Report{MinBits: cfg.MinBits, Seed: "none"}

	var cache wasmCache
	if len(cfg.Plugins) > 0 {
		cache, err = OpenWasmCache(cfg.WasmCache)
		if err != nil {
			rep.Notes = append(rep.Notes, err.Error()+" (compiling without a cache)")
		}
		if cache != nil {
			defer cache.Close(context.WithoutCancel(ctx))
		}
	}
	var specs []sourceSpec
	if h.Sources != nil {
		for _, s := range h.Sources {
			specs = append(specs, sourceSpec{src: s, builtin: true, credit: creditFor(cfg, s.Name())})
		}
		specs = append(specs, cfg.externalSources(cache)...)
	} else {
		specs = cfg.buildSources(cache)
	}

	var recs []record
	for _, sp := range specs {
		if err := ctx.Err(); err != nil {
			return rep, recs, fmt.Errorf("harvest: %w", err)
		}
		sr, data := h.gatherOne(ctx, cfg, sp)
		rep.Sources = append(rep.Sources, sr)
		if data != nil {
			recs = append(recs, record{sr.Name, data})
			rep.CreditedBits += sr.CreditedBits
		}
	}
	rep.Took = h.now().Sub(start)
	if !rep.Sufficient() {
		return rep, recs, fmt.Errorf("%w: %.0f bits credited, %d needed", ErrInsufficient, rep.CreditedBits, rep.MinBits)
	}
	return rep, recs, nil
}

// gatherOne reads one source. data is nil when the source is excluded.
func (h *Harvester) gatherOne(ctx context.Context, cfg Config, sp sourceSpec) (SourceReport, []byte) {
	sr := SourceReport{Name: sp.src.Name(), Health: HealthNone}
	t0 := h.now()
	sctx := ctx
	if _, isPlugin := sp.src.(*pluginSource); !isPlugin { // plugins run under their own limit
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(ctx, cfg.SourceTimeout)
		defer cancel()
	}
	r, err := sp.src.Read(sctx)
	sr.Took = h.now().Sub(t0)
	var ue *UnavailableError
	switch {
	case errors.As(err, &ue):
		sr.Reason = ue.Reason
		return sr, nil
	case err != nil:
		sr.Available = true
		sr.Err, sr.Error = err, err.Error()
		return sr, nil
	}
	sr.Available, sr.Bytes, sr.Note = true, len(r.Data), r.Note

	assessed := min(max(r.BitsPerSample, 0), 8)
	rate := assessed
	if sp.builtin && sp.credit >= 0 {
		rate = min(assessed, sp.credit) // the operator may only lower a self-assessment
	}
	sr.BitsPerByte = rate
	if assessed == 0 {
		sr.Health = HealthUntested
		return sr, r.Data
	}
	// The tests use the source's own assessment: lowering the credit does
	// not loosen them. Nothing of the source is used before its first
	// StartupSamples samples pass (the start-up test); r.Data is the
	// first of them.
	ht, err := NewHealthTest(assessed, DefaultAlphaLog2)
	if err == nil {
		err = startupTest(sctx, sp.src, ht, r.Data)
		sr.TestedSamples = ht.n
	}
	if err != nil {
		clear(r.Data)
		sr.Health, sr.Err = HealthFail, err
		sr.Error = fmt.Sprintf("harvest: %s: %s", sr.Name, strings.TrimPrefix(err.Error(), "harvest: "))
		var he *HealthError
		if errors.As(err, &he) {
			sr.HealthTest = he.Test
		}
		sr.Startup = errors.Is(err, ErrStartup)
		return sr, nil
	}
	sr.Health = HealthPass
	sr.CreditedBits = rate * float64(len(r.Data))
	return sr, r.Data
}

func creditFor(cfg Config, name string) float64 {
	if v, ok := cfg.Credit[name]; ok {
		return v
	}
	return -1
}
