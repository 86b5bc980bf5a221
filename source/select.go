package source

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrNoSuchTarget: a name given on the command line matches no entry's
// Name or Address. It is only returned wrapped in an error that names the
// package and the file (and is ErrConfig).
var ErrNoSuchTarget = errors.New("no such target")

// matches reports whether name is t's Name or Address.
func (t *Target) matches(name string) bool {
	return name != "" && (t.Name == name || t.Address == name)
}

// selectDue returns the indexes of the entries a run with c sends to at
// now: those due, or with Force all of them; only those c.Only names, if
// it names any. A name that matches no entry is an error.
func (c *Config) selectDue(ts *Targets, now time.Time) ([]int, error) {
	var unknown []string
	for _, name := range c.Only {
		if !slices.ContainsFunc(ts.Entries, func(t *Target) bool { return t.matches(name) }) {
			unknown = append(unknown, fmt.Sprintf("%q", name))
		}
	}
	if len(unknown) > 0 {
		return nil, &fileError{Path: c.Targets, Index: -1,
			Err: fmt.Errorf("%w: no entry has the Name or Address %s", ErrNoSuchTarget, strings.Join(unknown, ", "))}
	}
	var due []int
	for i, t := range ts.Entries {
		if len(c.Only) > 0 && !slices.ContainsFunc(c.Only, t.matches) {
			continue
		}
		if c.Force || t.due(now) {
			due = append(due, i)
		}
	}
	return due, nil
}

// Plan says what Run would do with cfg now, and does none of it: it reads
// the targets file without the lock and returns a report whose Results
// are the targets Run would send to, each with the counter its packet
// would carry (0 for one at the maximum). Nothing is locked, harvested,
// signed or written, and cfg.Signer is not needed.
func Plan(cfg Config) (*Report, error) {
	cfg.setDefaults()
	ts, err := LoadTargets(cfg.Targets)
	if err != nil {
		return nil, err
	}
	due, err := cfg.selectDue(ts, cfg.now())
	if err != nil {
		return nil, err
	}
	report := &Report{Targets: len(ts.Entries), NextDue: nextDue(ts), Misspellings: ts.Misspellings()}
	for _, i := range due {
		t := ts.Entries[i]
		res := Result{Target: *t, index: i}
		res.Target.extra = nil
		if t.Counter < 1<<63-1 {
			res.Counter = t.Counter + 1
		}
		report.Results = append(report.Results, res)
	}
	return report, nil
}
