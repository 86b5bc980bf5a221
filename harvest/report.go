package harvest

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Health results of one source.
const (
	healthPass     = "pass"
	healthFail     = "fail"
	healthUntested = "untested" // credited 0 bits: nothing to protect
	healthNone     = "-"        // no samples (unavailable or read failed)
)

// A Report says what one harvest did, source by source; WriteTable
// prints it.
type Report struct {
	sources []sourceReport
	// creditedBits is the sum of the healthy sources' credited bits.
	creditedBits float64
	minBits      int
	// seed says what became of the seed file: "none" (no path),
	// "new" (none yet), "mixed" (read and mixed), "rewritten".
	seed  string
	notes []string
	took  time.Duration
	// board says an ADC was read at the real sysfs root: the table asks
	// periph.io which board it is on.
	board bool
}

// A sourceReport is one source's line in a Report.
type sourceReport struct {
	Name      string
	Available bool
	// Reason says why the source is unavailable.
	Reason string
	Bytes  int
	// Health is healthPass, healthFail, healthUntested or healthNone;
	// HealthTest names the failed test ("RCT" or "APT"). Startup says the
	// failure came in the start-up test (within the first startupSamples
	// samples, or too few samples to finish it).
	Health     string
	HealthTest string
	Startup    bool
	// TestedSamples is how many samples the health tests saw: Bytes, and
	// the samples read only for the start-up test (tested, then wiped).
	TestedSamples int
	// BitsPerByte is the assessed min-entropy per byte; CreditedBits is
	// what this run counted (0 when excluded).
	BitsPerByte  float64
	CreditedBits float64
	Took         time.Duration
	Note         string
	// Err is why an available source was excluded, a health failure or
	// a read error: "harvest: NAME: why".
	Err error
}

// sufficient reports whether the run met its minimum.
func (r *Report) sufficient() bool { return r.creditedBits >= float64(r.minBits) }

// WriteTable writes the report as an aligned text table, one line per
// source, then a total.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tSTATUS\tBYTES\tHEALTH\tBITS/BYTE\tCREDITED\tTIME\tNOTE")
	for _, s := range r.sources {
		status := "ok"
		note := s.Note
		if s.Name == "adc" && r.board && s.Available && s.Err == nil {
			if b := boardName(); b != "" {
				note = b + ", " + note
			}
		}
		switch {
		case !s.Available:
			status, note = "unavailable", s.Reason
		case s.Err != nil && s.Health == healthFail:
			status, note = "excluded", s.Err.Error()
		case s.Err != nil:
			status, note = "failed", s.Err.Error()
		}
		health := s.Health
		switch {
		case s.Startup && s.HealthTest != "":
			health += " (start-up " + s.HealthTest + ")"
		case s.Startup:
			health += " (start-up)"
		case s.HealthTest != "":
			health += " (" + s.HealthTest + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.2f\t%.0f\t%s\t%s\n",
			s.Name, status, s.Bytes, health, s.BitsPerByte, s.CreditedBits, roundDuration(s.Took), note)
	}
	verdict := "enough"
	if !r.sufficient() {
		verdict = "NOT ENOUGH"
	}
	fmt.Fprintf(tw, "total\t\t\t\t\t%.0f\t%s\t%s: minimum %d bits; seed file: %s\n",
		r.creditedBits, roundDuration(r.took), verdict, r.minBits, r.seed)
	for _, n := range r.notes {
		fmt.Fprintf(tw, "note\t\t\t\t\t\t\t%s\n", n)
	}
	return tw.Flush()
}

func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}
