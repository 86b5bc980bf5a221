package main

import (
	"fmt"
	"syscall"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/sink"
)

// descriptorLimit is the process's RLIMIT_NOFILE. Go raises the soft
// limit to the hard one when the process starts, so this is the most the
// sink can open.
func descriptorLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("reading RLIMIT_NOFILE: %w", err)
	}
	return l.Cur, nil
}

// descriptorsError says why the sink cannot start with sum's connection
// slots under the descriptor limit lim. A sink whose slots add up to more
// than it may open would, under a flood of one listener, fail to accept
// on the others: the frame listener's slots must be there for it.
func descriptorsError(sum *sink.Summary, lim uint64) error {
	if uint64(sum.Descriptors) <= lim {
		return nil
	}
	return cli.Hint(cli.Usagef("the sink may hold %d file descriptors (one per connection its listeners may hold, %d more for its files), "+
		"but RLIMIT_NOFILE allows %d", sum.Descriptors, sink.DescriptorReserve, lim),
		"raise the limit (LimitNOFILE= in the systemd unit, ulimit -n in a shell) or lower MaxConns (HTTPS.MaxConns)")
}
