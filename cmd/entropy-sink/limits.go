package main

import (
	"context"
	"net"
)

// listenFrames listens for frames without TCP keep-alive: every read and
// write of a frame connection has a deadline of seconds, so keep-alive
// probes (after 15 s idle) would never be sent, and setting them up costs
// four system calls per connection, a fifth of what a rejected frame
// costs the sink.
func listenFrames(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{Enable: false}, KeepAlive: -1}
	return lc.Listen(context.Background(), "tcp", addr)
}
