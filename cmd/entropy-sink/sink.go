package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/sink"
	"github.com/spf13/cobra"
)

// env is what tests replace: the signals that stop the server, and a hook
// told the addresses once the server listens.
type env struct {
	stopContext func() (context.Context, context.CancelFunc)
	ready       func(sinkAddr, metricsAddr net.Addr)
}

func defaultEnv() env {
	return env{
		stopContext: func() (context.Context, context.CancelFunc) {
			return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		},
		ready: func(net.Addr, net.Addr) {},
	}
}

const exitCodes = `
Exit status:
  0  stopped by SIGTERM or SIGINT after finishing the connections in flight
     (decode: every frame file was read, whatever the verdicts)
  1  failure: cannot listen, cannot open the pool, a frame file unreadable
  2  usage or configuration error (bad flag, bad or too-open config file)`

func newCommand(e env) *cobra.Command {
	var (
		configPath      string
		logFormat       string
		logLevel        string
		metricsAddr     string
		shutdownTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "entropy-sink -f sink.json",
		Short: "Receive signed entropy packets and feed the kernel's pool",
		Long: `entropy-sink listens on the configuration's Address for frames from
entropyshare sources. Each frame is checked in the order PROTOCOL.md gives
(frame size, box, signature, packet, clock drift, counter); the new counter
is stored durably in the state file (sink.state beside sink.json) before
the chunk is fed to the pool, and a protocol 2 source is sent a one-byte
status reply. The sink never writes its configuration file.

The configuration file holds the sink's private key: it must not be
readable by group or others (the original entropy-config wrote it 0644;
chmod 600 fixes that).

Feeding the kernel pool with credit needs CAP_SYS_ADMIN; without it the
sink writes chunks to /dev/random (mixed in, not credited) and says so once.
` + exitCodes,
		Example: `  entropy-sink -f /var/lib/entropyshare/sink.json
  entropy-sink -f sink.json --log-format json --metrics 127.0.0.1:9438
  entropy-sink decode -f sink.json --at 1700000060 packet.frame
  entropy-config -a :4141 --new-key sink -s signer.pub -o sink.json   # make a configuration`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("metrics") {
				cfg.Metrics = metricsAddr
			}
			return serve(e, cfg, logger, shutdownTimeout)
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&configPath, "file", "f", "sink.json", "sink configuration and state file")
	f := cmd.Flags()
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&metricsAddr, "metrics", "", "serve /metrics and /healthz on this address (overrides the configuration's Metrics)")
	f.DurationVar(&shutdownTimeout, "shutdown-timeout", sink.DefaultShutdownTimeout, "on SIGTERM, how long to wait for connections in flight")
	cmd.AddCommand(newDecodeCommand(&configPath))
	return cmd
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, cli.Usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, cli.Usagef("--log-format %q: want text or json", format)
}

// loadConfig loads the configuration; every failure is a configuration
// error (exit 2), with a hint where the fix is known.
func loadConfig(path string) (*sink.Config, error) {
	cfg, err := sink.LoadConfig(path)
	if err == nil {
		return cfg, nil
	}
	switch {
	case errors.Is(err, keys.ErrPermissions):
		err = cli.Hint(err, "the file holds the sink's private key; the original entropy-config wrote it 0644")
	case errors.Is(err, os.ErrNotExist):
		err = cli.Hint(err, "make one with entropy-config (see 'entropy-config --help')")
	}
	return nil, cli.Usage(err)
}

func serve(e env, cfg *sink.Config, logger *slog.Logger, shutdownTimeout time.Duration) error {
	srv, err := sink.New(cfg, sink.Options{Logger: logger})
	if err != nil {
		var ce *sink.ConfigError // an unreadable or damaged state file
		if errors.As(err, &ce) {
			return cli.Usage(err)
		}
		return err
	}
	stopServer := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		return srv.Shutdown(ctx)
	}
	l, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		stopServer()
		return cli.Hint(fmt.Errorf("listen: %w", err), "check the configuration's Address and that no other sink runs")
	}
	var (
		metricsSrv  *http.Server
		metricsAddr net.Addr
	)
	if cfg.Metrics != "" {
		ml, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			l.Close()
			stopServer()
			return fmt.Errorf("metrics listen: %w", err)
		}
		metricsAddr = ml.Addr()
		metricsSrv = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go metricsSrv.Serve(ml)
	}
	ctx, cancel := e.stopContext()
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	logger.Info("listening", "address", l.Addr().String(), "state", cfg.StatePath(), "metrics", addrString(metricsAddr))
	e.ready(l.Addr(), metricsAddr)

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("stopping: finishing connections in flight", "timeout", shutdownTimeout)
	case serveErr = <-served:
	}
	if err := stopServer(); err != nil {
		logger.Warn("stopped with connections still open", "error", err.Error())
	}
	if metricsSrv != nil {
		mctx, mcancel := context.WithTimeout(context.Background(), time.Second)
		metricsSrv.Shutdown(mctx)
		mcancel()
	}
	if serveErr != nil && !errors.Is(serveErr, sink.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	logger.Info("stopped")
	return nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

func newDecodeCommand(configPath *string) *cobra.Command {
	var (
		at     int64
		legacy bool
	)
	cmd := &cobra.Command{
		Use:   "decode -f sink.json [--at UNIX] FRAME...",
		Short: "Check frame files as the sink would, changing nothing",
		Long: `decode opens and checks each FRAME file (a whole frame: the two-byte length,
then the payload) with the sink's configuration, as the sink would judge
them arriving in the order given, and prints one line per file:

  FILE: accepted protocol=N counter=C timestamp=T chunk=SHA256
  FILE: rejected reason=REASON

Nothing is fed and no counter is stored. REASON is one of decrypt,
unsigned, signature, malformed, chunk-size, frame-size, drift, counter.
--legacy judges every signer as if marked Legacy (accepting protocol 1).
` + exitCodes,
		Example: `  entropy-sink decode -f sink.json packet.frame
  entropy-sink decode -f sink.json --at 1700000060 --legacy valid-1.frame tampered.frame`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(*configPath)
			if err != nil {
				return err
			}
			if legacy {
				cfg.Legacy = true
				for i := range cfg.Signers {
					cfg.Signers[i].Legacy = true
				}
			}
			now := time.Now
			if cmd.Flags().Changed("at") {
				now = func() time.Time { return time.Unix(at, 0) }
			}
			d, err := sink.NewDecoder(cfg, now)
			if err != nil {
				return cli.Usage(err)
			}
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			unread := 0
			for _, name := range args {
				f, err := os.Open(name)
				if err != nil {
					fmt.Fprintf(errw, "entropy-sink: %v\n", err)
					unread++
					continue
				}
				v := d.Decode(f)
				f.Close()
				if v.Err != nil {
					fmt.Fprintf(out, "%s: rejected reason=%s\n", name, v.Reason())
					fmt.Fprintf(errw, "%s: %v\n", name, v.Err)
					if v.Hint != "" {
						fmt.Fprintf(errw, "hint: %s: %s\n", name, v.Hint)
					}
					continue
				}
				sum := sha256.Sum256(v.Packet.Chunk[:])
				fmt.Fprintf(out, "%s: accepted protocol=%d counter=%d timestamp=%d chunk=%s\n",
					name, v.Protocol, v.Packet.Counter, v.Packet.Timestamp, hex.EncodeToString(sum[:]))
			}
			if unread > 0 {
				return cli.Exit(cli.ExitFail, fmt.Errorf("%d of %d frame files could not be read", unread, len(args)))
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&at, "at", 0, "judge drift against this Unix time instead of the clock")
	cmd.Flags().BoolVar(&legacy, "legacy", false, "accept protocol 1 from every signer")
	return cmd
}
