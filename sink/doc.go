// Package sink implements the entropyshare sink: its configuration and
// counter state, the acceptance checks of PROTOCOL.md, the pools it feeds,
// and its metrics.
package sink
