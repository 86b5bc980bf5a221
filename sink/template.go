package sink

import (
	"bytes"
	"slices"
	"strconv"
)

// stateTemplate renders the state file for new counters without encoding
// the rest of it again. Under load the committer rewrites the same file
// with only counters changed, and encoding it (keys in base64, unknown
// members, indentation) cost as much CPU as the write's own system calls.
//
// The template is cut from one Marshal of the state with a distinct
// sentinel in every counter. It is used only if each sentinel occurs
// exactly once, and if rendering the real counters gives Marshal's output
// byte for byte; otherwise the committer keeps calling Marshal.
type stateTemplate struct {
	parts [][]byte // parts[k] precedes the counter numbered order[k]; one more part ends the file
	order []int
}

// sentinelBase is far below any counter a source sends (counters are
// positive), and its neighbours print as 19 digits: no key or address can
// hold one by accident without the uniqueness check noticing.
const sentinelBase = -7_000_000_000_000_000_000

// newStateTemplate returns nil when c cannot be rendered from a template.
func newStateTemplate(c *Config, primary bool) *stateTemplate {
	d := c.clone()
	n := len(d.Signers)
	if primary {
		n++
	}
	setCounters(d, primary, func(i int) int64 { return sentinelBase - int64(i) })
	data, err := d.Marshal()
	if err != nil {
		return nil
	}
	defer clear(data)
	type hit struct{ at, counter int }
	var hits []hit
	for i := range n {
		s := strconv.AppendInt(nil, sentinelBase-int64(i), 10)
		at := bytes.Index(data, s)
		if at < 0 || bytes.Count(data, s) != 1 || isDigit(data, at+len(s)) {
			return nil
		}
		hits = append(hits, hit{at, i})
	}
	slices.SortFunc(hits, func(a, b hit) int { return a.at - b.at })
	t := &stateTemplate{}
	prev := 0
	for _, h := range hits {
		t.parts = append(t.parts, bytes.Clone(data[prev:h.at]))
		t.order = append(t.order, h.counter)
		prev = h.at + len(strconv.AppendInt(nil, sentinelBase-int64(h.counter), 10))
	}
	t.parts = append(t.parts, bytes.Clone(data[prev:]))

	// The proof: the template renders the real file exactly.
	want, err := c.Marshal()
	if err != nil {
		return nil
	}
	defer clear(want)
	got := t.render(counterList(c, primary))
	defer clear(got)
	if !bytes.Equal(got, want) {
		return nil
	}
	return t
}

func isDigit(b []byte, i int) bool { return i < len(b) && '0' <= b[i] && b[i] <= '9' }

func (t *stateTemplate) render(counters []int64) []byte {
	size := 0
	for _, p := range t.parts {
		size += len(p)
	}
	out := make([]byte, 0, size+20*len(t.order))
	for k, p := range t.parts[:len(t.order)] {
		out = append(out, p...)
		out = strconv.AppendInt(out, counters[t.order[k]], 10)
	}
	return append(out, t.parts[len(t.order)]...)
}

// erase clears the template: its parts hold the sink's private key.
func (t *stateTemplate) erase() {
	for _, p := range t.parts {
		clear(p)
	}
}

// setCounters stores counter(i) in every counter of c: i = 0 is the
// top-level Counter when primary, then the Signers in order.
func setCounters(c *Config, primary bool, counter func(i int) int64) {
	j := 0
	if primary {
		c.Counter = counter(0)
		j = 1
	}
	for i := range c.Signers {
		c.Signers[i].Counter = counter(j + i)
	}
}

// counterList is the inverse of setCounters.
func counterList(c *Config, primary bool) []int64 {
	var out []int64
	if primary {
		out = append(out, c.Counter)
	}
	for _, s := range c.Signers {
		out = append(out, s.Counter)
	}
	return out
}
