package harvest

// Harvest is the package's one entry point; Config says what to gather,
// Report.WriteTable prints what happened and the Generator is the result.
// Inside, a run goes: readSeedFile, then gather (each source read, then
// start-up and continuous health tests, SP 800-90B 4.3 and 4.4, then
// credited), then mixKey (BLAKE3 over the seed, a timestamp and the healthy
// sources) keys a newGenerator, whose output rewrites the seed file.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/entropyshare/entropyshare/internal/spell"
)

// Harvest reads the seed file at seedPath (none when ""), gathers from
// every source cfg names, and when at least cfg.MinBits are credited
// mixes everything into a new generator and rewrites the seed file with
// its output. Below the minimum it returns the report with
// ErrInsufficient and no generator, and leaves the seed file alone. A
// seed file that group or others can read, or of the wrong size, is an
// error before anything is gathered. Sources that are unavailable, fail
// or fail their health tests are reported and left out; they never stop
// the run.
func Harvest(ctx context.Context, cfg Config, seedPath string) (*Generator, *Report, error) {
	h := harvester{cfg: cfg}
	return h.harvest(ctx, seedPath)
}

// A harvester runs harvests with sources that tests may inject.
type harvester struct {
	cfg Config
	// sources, when non-nil, replaces the built-in sources (kernel,
	// jitter, ...); the files, commands and plugins of cfg are still
	// added. These sources assess themselves, and cfg.Credit can only
	// lower them.
	sources []entropySource
}

func (h *harvester) harvest(ctx context.Context, seedPath string) (*Generator, *Report, error) {
	if _, err := h.cfg.resolved(); err != nil {
		return nil, nil, err
	}
	var prev []byte
	var err error
	seedState := "none"
	if seedPath != "" {
		if prev, err = readSeedFile(seedPath); err != nil {
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
		rep.seed = seedState
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
	binary.BigEndian.PutUint64(stamp[:], uint64(time.Now().UnixNano()))
	all := append([]record{{"seed file", prev}, {"time", stamp[:]}}, recs...)
	key := mixKey(all)
	g := newGenerator(key)
	clear(key[:])

	if seedPath != "" {
		if err := writeSeedFile(seedPath, g); err != nil {
			return nil, rep, err
		}
		rep.seed = "rewritten"
	}
	return g, rep, nil
}

// gather reads every source in turn, tests and credits it. The records
// are the healthy sources' data, for mixing. err is ErrInsufficient (with
// the counts), a configuration error, or ctx's error.
func (h *harvester) gather(ctx context.Context) (*Report, []record, error) {
	start := time.Now()
	cfg, err := h.cfg.resolved()
	if err != nil {
		return nil, nil, err
	}
	rep := &Report{minBits: cfg.MinBits, seed: "none"}

	var cache *wasmCache
	if len(cfg.Plugins) > 0 {
		cache, err = openWasmCache(cfg.WasmCache)
		if err != nil {
			rep.notes = append(rep.notes, err.Error()+" (compiling without a cache)")
		}
		defer cache.Close(context.WithoutCancel(ctx)) // nil: no cache
	}
	var specs []sourceSpec
	if h.sources != nil {
		for _, s := range h.sources {
			specs = append(specs, sourceSpec{src: s, builtin: true, credit: creditFor(cfg, s.Name())})
		}
		specs = append(specs, cfg.externalSources(cache)...)
	} else {
		specs = cfg.buildSources(cache)
	}
	if err := checkCreditNames(cfg.Credit, specs); err != nil {
		return nil, nil, err
	}

	var recs []record
	for _, sp := range specs {
		if err := ctx.Err(); err != nil {
			return rep, recs, fmt.Errorf("harvest: stopped before reading %s: %w", sp.src.Name(), err)
		}
		sr, data := h.gatherOne(ctx, cfg, sp)
		rep.sources = append(rep.sources, sr)
		if a, ok := sp.src.(adcSource); ok && a.detect {
			rep.board = true
		}
		if data != nil {
			recs = append(recs, record{sr.Name, data})
			rep.creditedBits += sr.CreditedBits
		}
	}
	rep.took = time.Since(start)
	if err := ctx.Err(); err != nil { // the last source may have been cut short
		return rep, recs, fmt.Errorf("harvest: stopped: %w", err)
	}
	if !rep.sufficient() {
		return rep, recs, fmt.Errorf("%w: %.0f bits credited, %d needed", ErrInsufficient, rep.creditedBits, rep.minBits)
	}
	return rep, recs, nil
}

// gatherOne reads one source. data is nil when the source is excluded.
func (h *harvester) gatherOne(ctx context.Context, cfg Config, sp sourceSpec) (sourceReport, []byte) {
	sr := sourceReport{Name: sp.src.Name(), Health: healthNone}
	t0 := time.Now()
	sctx := ctx
	if _, isPlugin := sp.src.(*pluginSource); !isPlugin { // plugins run under their own limit
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(ctx, cfg.SourceTimeout)
		defer cancel()
	}
	r, err := sp.src.Read(sctx)
	sr.Took = time.Since(t0)
	var ue *unavailableError
	switch {
	case errors.As(err, &ue):
		sr.Reason = ue.Reason
		return sr, nil
	case err != nil:
		sr.Available = true
		sr.Err = fmt.Errorf("harvest: %s: %w", sr.Name, err)
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
		sr.Health = healthUntested
		return sr, r.Data
	}
	// The tests use the source's own assessment: lowering the credit does
	// not loosen them. Nothing of the source is used before its first
	// startupSamples samples pass (the start-up test); r.Data is the
	// first of them.
	ht, err := newHealthTest(assessed, defaultAlphaLog2)
	if err == nil {
		err = startupTest(sctx, sp.src, ht, r.Data)
		sr.TestedSamples = ht.n
	}
	if err != nil {
		clear(r.Data)
		sr.Health, sr.Err = healthFail, fmt.Errorf("harvest: %s: %w", sr.Name, err)
		var he *healthError
		if errors.As(err, &he) {
			sr.HealthTest = he.Test
		}
		sr.Startup = errors.Is(err, errStartup)
		return sr, nil
	}
	sr.Health = healthPass
	sr.CreditedBits = rate * float64(len(r.Data))
	return sr, r.Data
}

// checkCreditNames refuses a Credit entry that names no source: a typo
// there would leave the source it meant uncredited (or, for a built-in
// source, not lowered) without a word. A built-in source's name is
// always allowed, run or not (--sources, --no-jitter).
func checkCreditNames(credit map[string]float64, specs []sourceSpec) error {
	names := slices.Clone(BuiltinSources)
	for _, sp := range specs {
		if !slices.Contains(names, sp.src.Name()) {
			names = append(names, sp.src.Name())
		}
	}
	for _, name := range slices.Sorted(maps.Keys(credit)) {
		if slices.Contains(names, name) {
			continue
		}
		msg := fmt.Sprintf("%%w: credit for %q: no source has that name", name)
		if s, ok := spell.Suggest(name, names); ok {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return fmt.Errorf(msg+"; the names are %s", ErrConfig, strings.Join(names, ", "))
	}
	return nil
}

func creditFor(cfg Config, name string) float64 {
	if v, ok := cfg.Credit[name]; ok {
		return v
	}
	return -1
}
