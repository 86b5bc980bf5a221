package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/entropyshare/entropyshare/internal/cli"
)

// addressHint follows an address that is not one.
const addressHint = "an address is HOST:PORT, or :PORT for every interface, the port a number from 1 to 65535 (e.g. :4141)"

// listenError says why the sink could not listen on addr, the value of
// field (Address, Metrics or --metrics). A failure that restarting cannot
// fix is a configuration error, exit 2, which the unit does not restart:
// a host that does not resolve, an address no interface of this machine
// has, a port the sink may not bind. One that may pass (the port still
// held by a sink stopping, DNS not answering yet) is exit 1, and the unit
// tries again.
func listenError(field string, err error) error {
	err = fmt.Errorf("%s: %w", field, err)
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		return cli.Hint(cli.Usage(err), "the host in "+field+" does not resolve: give an IP address of this machine, or :PORT for every interface")
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return cli.Hint(cli.Usage(err), "no interface of this machine has that address (ip -brief address lists them): give one it has, or :PORT for every interface")
	case errors.Is(err, syscall.EACCES):
		return cli.Hint(cli.Usage(err), "a port below 1024 needs CAP_NET_BIND_SERVICE: give a higher port")
	case errors.Is(err, syscall.EADDRINUSE):
		return cli.Hint(err, "another program listens there (ss -ltnp shows which): another sink, or one still stopping")
	}
	return cli.Hint(err, "check the configuration's "+field+" and that no other sink runs")
}
