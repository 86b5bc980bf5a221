package sink

import (
	"io"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// Verdict is what a sink would do with one frame.
type Verdict struct {
	Protocol packet.Protocol // 0 unless the packet verified
	Signer   string          // empty unless the packet verified
	Packet   *packet.Packet  // nil unless the packet verified
	Err      error           // nil: accepted
	Hint     string          // a local explanation of Err, when there is one
}

// Reason names the rejection for logs and the decode command ("counter",
// "drift", ...), or "" for an accepted frame.
func (v Verdict) Reason() string { return reason(v.Err) }

// Decoder opens and checks frames as a sink with a configuration would,
// without feeding anything or writing any state.
type Decoder struct {
	k        *compiled
	drift    int64
	now      func() time.Time
	counters []int64
}

// NewDecoder checks cfg and returns a decoder that starts from its stored
// counters (the state file's, read and left as it is, with the
// configuration's floors) and reads the time from now (nil: the real
// clock).
func NewDecoder(cfg *Config, now func() time.Time) (*Decoder, error) {
	k, es, at, err := cfg.stored()
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	d := &Decoder{k: k, drift: cfg.Drift, now: now, counters: make([]int64, len(at))}
	for i, j := range at {
		d.counters[i] = es[j].counter
	}
	return d, nil
}

// Decode reads one frame from r and applies the acceptance steps. An
// accepted frame moves the decoder's in-memory counter for its signer, so
// a sequence of frames is judged as a sink would judge it arriving in that
// order; nothing is stored.
func (d *Decoder) Decode(r io.Reader) Verdict {
	payload, err := packet.ReadFrame(r, d.k.maxFrame)
	if err != nil {
		return Verdict{Err: err}
	}
	o, hint, err := d.k.check(payload, d.now(), d.drift, nil)
	v := Verdict{Err: err, Hint: hint}
	if o != nil {
		v.Protocol, v.Signer, v.Packet = o.Protocol, o.name, o.Packet
	}
	if err != nil {
		return v
	}
	if err := packet.CheckCounter(o.Packet.Counter, d.counters[o.Signer]); err != nil {
		v.Err = err
		return v
	}
	d.counters[o.Signer] = o.Packet.Counter
	return v
}
