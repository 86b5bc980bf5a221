package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/entropyshare/entropyshare/sink"
	"golang.org/x/sys/unix"
)

// sdNotify sends state to the service manager, as sd_notify(3) does: one
// datagram to the unix socket that $NOTIFY_SOCKET names (an abstract
// socket when the name starts with @, which Go's net package passes on as
// such). Without $NOTIFY_SOCKET, not run by systemd as Type=notify, it
// does nothing. A few lines are all the protocol needs: no library.
func sdNotify(state string) error {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// notify sends state, logging a failure: the service manager would then
// time the start or reload out, and the log says why.
func notify(logger *slog.Logger, state string) {
	if err := sdNotify(state); err != nil {
		logger.Warn("cannot notify the service manager ($NOTIFY_SOCKET)", "error", err.Error())
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, which RELOADING=1
// carries (MONOTONIC_USEC) so that systemd orders the reload.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano() / 1000
}

// reload reads the configuration again and puts it in service (SIGHUP,
// systemctl reload). On failure the sink serves on as it was and the log
// and the unit's status say why.
func reload(srv *sink.Server, load func() (*sink.Config, error), logger *slog.Logger, listening string) {
	notify(logger, fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
	logger.Info("reloading the configuration (SIGHUP)")
	cfg, err := load()
	if err == nil {
		err = srv.Reload(cfg)
	}
	if err != nil {
		logger.Error("reload failed: serving on with the configuration in use", "error", err.Error())
		notify(logger, "READY=1\nSTATUS="+listening+"; reload failed, the previous configuration in use: "+err.Error())
		return
	}
	notify(logger, "READY=1\nSTATUS="+listening+"; configuration reloaded")
}
