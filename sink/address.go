package sink

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// CheckAddress reports whether addr is an address a sink can listen on:
// host:port, or :port for every interface, the port a number from 1 to
// 65535 (a bracketed IPv6 address as host: [::1]:4141). The host is not
// looked up. A problem is a *ConfigError naming field ("Address",
// "Metrics", or a flag such as "--metrics").
//
// Checking when a file is written and when it is loaded turns a sink that
// would fail at every start (and be restarted by its unit, forever) into
// a configuration error.
func CheckAddress(field, addr string) error {
	if addr == "" {
		return &ConfigError{Field: field, Err: fmt.Errorf("%w; want host:port or :port", errMissing)}
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		why := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			why = ae.Err
		}
		return fieldErr(field, "%q: %s; want host:port or :port, [ipv6]:port for an IPv6 address", addr, why)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fieldErr(field, "%q: port %q, want a number from 1 to 65535", addr, port)
	}
	return nil
}
