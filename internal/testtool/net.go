package testtool

import (
	"net"
	"testing"
)

// FreeAddr returns 127.0.0.1 and a port free a moment ago, for a
// configuration or flag a process listens on (a configuration's port is 1
// to 65535, never 0).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
