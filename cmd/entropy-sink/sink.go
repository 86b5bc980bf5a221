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
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/sink"
	"github.com/spf13/cobra"
)

// env is what tests replace: the signals that stop the server, hooks told
// the addresses once the server listens (httpsReady before ready, when the
// configuration has an HTTPS listener), how it listens (nil: net.Listen),
// and the signals that reload it (nil: none).
type env struct {
	stopContext func() (context.Context, context.CancelFunc)
	ready       func(sinkAddr, metricsAddr net.Addr)
	httpsReady  func(net.Addr)
	listen      func(network, address string) (net.Listener, error)
	hangup      func() (<-chan os.Signal, func())
}

func defaultEnv() env {
	return env{
		stopContext: func() (context.Context, context.CancelFunc) {
			return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		},
		ready:      func(net.Addr, net.Addr) {},
		httpsReady: func(net.Addr) {},
		listen:     func(_, address string) (net.Listener, error) { return listenFrames(address) },
		hangup: func() (<-chan os.Signal, func()) {
			c := make(chan os.Signal, 1)
			signal.Notify(c, syscall.SIGHUP)
			return c, func() { signal.Stop(c) }
		},
	}
}

const exitCodes = `
Exit status:
  0  stopped by SIGTERM or SIGINT after finishing the connections in flight
     (SIGHUP reloads the configuration; see above)
     (decode: every frame file was read, whatever the verdicts)
  1  failure: cannot listen (the port in use), cannot open the pool, a
     frame file unreadable
  2  usage or configuration error (bad flag, bad or too-open config file,
     unreadable or damaged state file, a listen address without a port or
     whose host does not resolve or is not this machine's)`

func newCommand(e env) *cobra.Command {
	var (
		configPath      string
		statePath       string
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
is stored durably in the state file before the chunk is fed to the pool,
and a protocol 2 source is sent a one-byte status reply.

The sink never writes its configuration file. It holds the sink's private
key, so it must be readable by its owner only (mode 0600; the original
entropy-config wrote it 0644), or be root's and readable by its group too
(root:entropyshare 0640, as the packages set it up).

The state file (--state, or the configuration's State; by default beside the
configuration: sink.state for sink.json) holds each signer's counter, keyed
by its public key, and no secret. It is made at the first start. A Counter
in the configuration is a floor: the stored counter is the larger of the
two, so an original sink.json keeps refusing every packet it accepted. A
damaged state file stops the sink (exit 2): it never resets a counter.

Every accepted chunk is also mixed into the boot seed (the configuration's
BootSeed; by default boot-seed beside the state file), which 'entropy-sink
seed' feeds the kernel early at the next boot (docs/BOOTSEED.md).

With an "HTTPS" section the sink also listens for HTTPS (TLS 1.3, client
certificates; docs/PROTOCOL.md): sources POST their packets to
/v1/packet, which goes through the same checks and the same counters as
the TCP listener, and listed clients may fetch random values. Its files
are taken from the configuration's folder when relative.

Feeding the kernel pool with credit needs CAP_SYS_ADMIN; without it the
sink writes chunks to /dev/random (mixed in, not credited) and says so once.

SIGHUP (systemctl reload) reloads the configuration: signers, drift,
credit, pool and limits. Connections in progress finish under the
configuration they started with. Counters never go down: they stay the
state file's, and a Counter can only raise one. A configuration that does
not load leaves the sink serving as it was, and the log says why. A new
Address, Metrics or State needs a restart, and the log says so too. Under
systemd (Type=notify) the sink reports READY=1 once it listens, RELOADING=1
and READY=1 around a reload, and STOPPING=1.
` + exitCodes,
		Example: `  entropy-sink -f /etc/entropyshare/sink.json --state /var/lib/entropyshare/sink.state
  entropy-sink -f sink.json --log-format json --metrics 127.0.0.1:9438
  entropy-sink check -f sink.json                      # fingerprints and warnings; listens on nothing
  entropy-sink status -f sink.json
  entropy-sink decode -f sink.json --at 1700000060 packet.frame
  entropy-config -a :4141 --new-key sink -s signer.pub -o sink.json   # make a configuration`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("metrics") && metricsAddr != "" {
				if err := sink.CheckAddress("--metrics", metricsAddr); err != nil {
					return cli.Hint(cli.Usage(err), addressHint)
				}
			}
			// load reads the configuration, at start and at each SIGHUP.
			load := func() (*sink.Config, error) {
				cfg, err := loadConfig(configPath, statePath)
				if err != nil {
					return nil, err
				}
				if cmd.Flags().Changed("metrics") {
					cfg.Metrics = metricsAddr // for this process only: nothing writes cfg
				}
				return cfg, nil
			}
			// SIGHUP, from the start: its default action would kill the sink.
			var hangup <-chan os.Signal
			if e.hangup != nil {
				c, stop := e.hangup()
				defer stop()
				hangup = c
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			return serve(e, cfg, load, hangup, logger, shutdownTimeout)
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&configPath, "file", "f", "sink.json", "sink configuration file (read only)")
	pf.StringVar(&statePath, "state", "", "state file (overrides the configuration's State; default: beside the configuration, sink.state for sink.json)")
	f := cmd.Flags()
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&metricsAddr, "metrics", "", "serve /metrics and /healthz on this address (overrides the configuration's Metrics)")
	f.DurationVar(&shutdownTimeout, "shutdown-timeout", sink.DefaultShutdownTimeout, "on SIGTERM, how long to wait for connections in flight")
	cmd.RegisterFlagCompletionFunc("log-format", cli.CompleteWords("text", "json"))
	cmd.RegisterFlagCompletionFunc("log-level", cli.CompleteWords("debug", "info", "warn", "error"))
	cmd.AddCommand(newDecodeCommand(&configPath, &statePath), newStatusCommand(&configPath, &statePath), newPullCommand(), newSeedCommand(&configPath, &statePath))
	cmd.AddCommand(newCheckCommand(&configPath, &statePath))
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

// loadConfig loads the configuration, with --state applied (relative to
// the working folder, as paths on the command line are); every failure is
// a configuration error (exit 2), with a hint where the fix is known.
func loadConfig(path, statePath string) (*sink.Config, error) {
	cfg, err := sink.LoadConfig(path)
	if err != nil {
		var ce *sink.ConfigError
		switch {
		case errors.As(err, &ce) && (ce.Field == "Address" || ce.Field == "Metrics"):
			err = cli.Hint(err, addressHint)
		case errors.Is(err, keys.ErrPermissions):
			err = cli.Hint(err, "the file holds the sink's private key; the original entropy-config wrote it 0644")
		case errors.Is(err, os.ErrNotExist):
			err = cli.Hint(err, "make one with entropy-config (see 'entropy-config --help')")
		}
		return nil, cli.Usage(err)
	}
	if statePath != "" {
		if cfg.State, err = filepath.Abs(statePath); err != nil {
			return nil, cli.Usage(err)
		}
	}
	return cfg, nil
}

// stateError makes an unreadable or damaged state file a configuration
// error (exit 2): restarting cannot fix it.
func stateError(err error) error {
	var ce *sink.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, sink.ErrStateDamaged) {
		err = cli.Hint(err, "the sink never resets counters itself: restore the file from a backup, or move it aside and "+
			"set each signer's Counter in the configuration to at least the last counter its source sent (its targets file's Counter)")
	}
	return cli.Usage(err)
}

func serve(e env, cfg *sink.Config, load func() (*sink.Config, error), hangup <-chan os.Signal,
	logger *slog.Logger, shutdownTimeout time.Duration) error {
	sum, err := cfg.Summary()
	if err != nil {
		return cli.Usage(err)
	}
	lim, err := descriptorLimit()
	if err != nil {
		return err
	}
	if err := descriptorsError(sum, lim); err != nil {
		return err
	}
	srv, err := sink.New(cfg, sink.Options{Logger: logger, Version: cli.Version()})
	if err != nil {
		return stateError(err)
	}
	stopServer := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		return srv.Shutdown(ctx)
	}
	// The HTTPS listener's packets go through the sink's own acceptance
	// path, against the same counters.
	var hs *sink.HTTPSServer
	if cfg.HTTPS != nil {
		if hs, err = sink.NewHTTPSServer(cfg.HTTPS, cfg.Dir(), srv.HTTPSOptions()); err != nil {
			stopServer()
			if errors.Is(err, keys.ErrPermissions) {
				err = cli.Hint(err, "the HTTPS key is a private key: readable by its owner only")
			}
			return cli.Usage(err)
		}
	}
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
		stopServer()
	}
	listen := e.listen
	if listen == nil {
		listen = func(_, address string) (net.Listener, error) { return listenFrames(address) }
	}
	l, err := listen("tcp", cfg.Address)
	if err != nil {
		stopServer()
		return listenError("Address", err)
	}
	listeners = append(listeners, l)
	var hl net.Listener
	if hs != nil {
		if hl, err = net.Listen("tcp", cfg.HTTPS.Address); err != nil {
			closeAll()
			return cli.Hint(fmt.Errorf("HTTPS listen: %w", err), "check the configuration's HTTPS.Address")
		}
		listeners = append(listeners, hl)
	}
	var (
		metricsSrv  *sink.MetricsServer
		metricsAddr net.Addr
	)
	if cfg.Metrics != "" {
		ml, err := listen("tcp", cfg.Metrics)
		if err != nil {
			closeAll()
			return listenError("Metrics", err)
		}
		metricsAddr = ml.Addr()
		metricsSrv = srv.NewMetricsServer()
		go metricsSrv.Serve(ml)
	}
	ctx, cancel := e.stopContext()
	defer cancel()
	served := make(chan error, 2)
	go func() { served <- srv.Serve(l) }()
	httpsAddr := "off"
	if hs != nil {
		go func() { served <- hs.Serve(hl) }()
		httpsAddr = hl.Addr().String()
		if e.httpsReady != nil {
			e.httpsReady(hl.Addr())
		}
	}
	// The start-up line: what this sink accepts, from whom, and where it
	// keeps their counters.
	logger.Info("listening", append(append([]any{"version", cli.Version(), "address", l.Addr().String()},
		sum.Attrs()...), "metrics", addrString(metricsAddr), "https", httpsAddr)...)
	listening := "listening on " + l.Addr().String()
	notify(logger, "READY=1\nSTATUS="+listening)
	e.ready(l.Addr(), metricsAddr)

	var serveErr error
wait:
	for {
		select {
		case <-ctx.Done():
			logger.Info("stopping: finishing connections in flight", "timeout", shutdownTimeout)
			break wait
		case serveErr = <-served:
			break wait
		case <-hangup:
			reload(srv, load, logger, listening)
		}
	}
	notify(logger, "STOPPING=1")
	// HTTPS first: its requests in flight finish through the sink, which
	// then stops.
	if hs != nil {
		hctx, hcancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := hs.Shutdown(hctx); err != nil {
			logger.Warn("stopped with HTTPS requests still open", "error", err.Error())
		}
		hcancel()
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

func newDecodeCommand(configPath, statePath *string) *cobra.Command {
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

The counters start as stored (the state file's, read and never written,
with the configuration's floors). Nothing is fed and no counter is stored.
REASON is one of decrypt, unsigned, signature, malformed, chunk-size,
frame-size, drift, counter.
--legacy judges every signer as if marked Legacy (accepting protocol 1).

Exit status:
  0  every frame file was read, whatever the verdicts
  1  a frame file could not be read
  2  usage or configuration error (bad flag, bad or too-open config file,
     unreadable or damaged state file)`,
		Example: `  entropy-sink decode -f sink.json packet.frame
  entropy-sink decode -f sink.json --at 1700000060 --legacy valid-1.frame tampered.frame`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(*configPath, *statePath)
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
				return stateError(err)
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

func newStatusCommand(configPath, statePath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "status -f sink.json",
		Short: "Print each signer's stored counter, changing nothing",
		Long: `status prints the state file's path; the boot seed's, with the age of the
last chunk mixed into it and whether entropy-sink seed would credit it at
the next boot (as far as this user can judge: see docs/BOOTSEED.md); then
one line per signer of the configuration: its name, whether it may send
protocol 1 (legacy), its stored counter (the state file's, or the
configuration's Counter where that is larger), when that counter was
stored (last accepted; "-" if unknown), and the SHA-256 fingerprint of its
public key (PKIX DER) by which the state file knows it. Signers the state
file still remembers but the configuration no longer names follow, as
"(not configured)". No server is started and nothing is written: it may
run beside a running sink.

Exit status:
  0  the configuration and state were read and every signer printed
  2  usage or configuration error (bad flag, bad or too-open config file,
     unreadable or damaged state file)`,
		Example: `  entropy-sink status -f sink.json
  entropy-sink status -f /etc/entropyshare/sink.json --state /var/lib/entropyshare/sink.state`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(*configPath, *statePath)
			if err != nil {
				return err
			}
			signers, err := sink.Status(cfg)
			if err != nil {
				return stateError(err)
			}
			out := cmd.OutOrStdout()
			note := ""
			if _, err := os.Stat(cfg.StatePath()); errors.Is(err, os.ErrNotExist) {
				note = " (not made yet: counters are the configuration's)"
			}
			fmt.Fprintf(out, "state file: %s%s\n", cfg.StatePath(), note)
			info, err := sink.InspectBootSeed(cfg.BootSeedPath())
			fmt.Fprintln(out, bootSeedStatus(cfg.BootSeedPath(), info, err, time.Now()))
			w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tLEGACY\tCOUNTER\tLAST ACCEPTED\tFINGERPRINT")
			for _, s := range signers {
				name, legacy, last := s.Name, "no", "-"
				if name == "" {
					name = "(not configured)"
				}
				if s.Legacy {
					legacy = "yes"
				}
				if !s.Stored.IsZero() {
					last = s.Stored.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", name, legacy, s.Counter, last, s.Fingerprint)
			}
			return w.Flush()
		},
	}
}
