package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/libp2p/go-libp2p/gologshim"
	"github.com/spf13/cobra"

	"github.com/clubnode/clubnode/internal/version"
	"github.com/clubnode/clubnode/node"
	"github.com/clubnode/clubnode/node/home"
)

// addDaemonCommands adds the commands that run a node rather than talk to
// one: init (offline, creates the identity) and daemon.
func addDaemonCommands(root *cobra.Command) {
	root.AddCommand(newInitCommand(), newDaemonCommand())
}

func newInitCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init --name NAME",
		Short: "Create this node's identity and datastore in its home folder",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := homeOf(cmd)
			if err != nil {
				return err
			}
			name, _ := cmd.Flags().GetString("name")
			id, err := node.Init(h, name)
			if err != nil {
				return fmt.Errorf("init: %w", err)
			}
			v := struct {
				PeerID string `json:"peer_id"`
				Home   string `json:"home"`
			}{id.String(), h.Dir}
			return output(cmd, v, func() string {
				return fmt.Sprintf("created node %s in %s\nstart it with: clubnode --home %s daemon\n", id, h.Dir, h.Dir)
			})
		},
	}
	cmd.Flags().String("name", "", "your display name")
	return cmd
}

func newDaemonCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the node in the foreground (Ctrl-C stops it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := homeOf(cmd)
			if err != nil {
				return err
			}
			ok, err := h.Exists()
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s is not initialised: run 'clubnode --home %s init --name NAME' first", h.Dir, h.Dir)
			}
			settings, err := home.LoadConfig(h.ConfigPath())
			if err != nil {
				return err
			}
			if err := applyDaemonFlags(cmd, &settings); err != nil {
				return err
			}
			labInternet, err := applyNATFlags(cmd, &settings)
			if err != nil {
				return err
			}
			logger, level, err := newLogger(cmd)
			if err != nil {
				return err
			}
			if path, _ := cmd.Flags().GetString("cpu-profile"); path != "" {
				stop, err := startCPUProfile(path)
				if err != nil {
					return err
				}
				defer stop()
			}
			announce, _ := cmd.Flags().GetDuration("room-announce-interval")
			if announce < 100*time.Millisecond {
				return fmt.Errorf("--room-announce-interval %s: want at least 100ms", announce)
			}
			stall, _ := cmd.Flags().GetDuration("media-stall")
			n, err := node.Start(node.Config{Home: h, Settings: settings, Logger: logger, RoomAnnounceInterval: announce,
				MediaStall: stall, LogLevel: level, LabInternet: labInternet})
			if err != nil {
				return err
			}
			defer n.Close()
			logger.Info("clubnode daemon running", "peer", n.ID(), "home", h.Dir, "api", n.APIAddr(),
				"metrics", n.MetricsAddr(), "version", version.Get().Version)
			err = n.Serve(cmd.Context())
			logger.Info("clubnode daemon stopping")
			if path, _ := cmd.Flags().GetString("heap-profile"); path != "" {
				writeHeapProfile(logger, path) // before Close: what the running node holds
			}
			return err
		},
	}
	addDaemonFlags(cmd)
	addNATFlags(cmd)
	return cmd
}

// applyDaemonFlags puts the daemon's flags that override the config
// file into settings.
func applyDaemonFlags(cmd *cobra.Command, settings *home.Config) error {
	if listen, _ := cmd.Flags().GetStringArray("listen"); len(listen) > 0 {
		settings.ListenAddrs = listen
	}
	if api, _ := cmd.Flags().GetString("api"); api != "" {
		settings.APIAddr = api
	}
	if cmd.Flags().Changed("relay-capacity") {
		settings.RelayCapacity, _ = cmd.Flags().GetInt("relay-capacity")
		if settings.RelayCapacity < 0 {
			return fmt.Errorf("--relay-capacity %d is negative (0 means leaf only)", settings.RelayCapacity)
		}
	}
	if cmd.Flags().Changed("mdns") {
		settings.MDNS, _ = cmd.Flags().GetBool("mdns")
	}
	if cmd.Flags().Changed("standby-links") {
		settings.StandbyLinks, _ = cmd.Flags().GetBool("standby-links")
	}
	if cmd.Flags().Changed("metrics-addr") {
		settings.MetricsAddr, _ = cmd.Flags().GetString("metrics-addr")
	}
	if cmd.Flags().Changed("metrics-allow-remote") {
		settings.MetricsAllowRemote, _ = cmd.Flags().GetBool("metrics-allow-remote")
	}
	if cmd.Flags().Changed("uplink-kbps") {
		settings.UplinkKbps, _ = cmd.Flags().GetInt("uplink-kbps")
	}
	return nil
}

// newLogger makes the daemon's logger from --log-level and --log-format.
// The level is a LevelVar the API can change at run time; libp2p's own
// logs (go-log) go to the same stream in the same format.
func newLogger(cmd *cobra.Command) (*slog.Logger, *slog.LevelVar, error) {
	s, _ := cmd.Flags().GetString("log-level")
	lvl, err := node.ParseLogLevel(s)
	if err != nil {
		return nil, nil, fmt.Errorf("--log-level: %w", err)
	}
	format, _ := cmd.Flags().GetString("log-format")
	newHandler, err := handlerFor(format)
	if err != nil {
		return nil, nil, err
	}
	level := new(slog.LevelVar)
	level.Set(lvl)
	logger := slog.New(newHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	gologshim.SetDefaultHandler(newHandler(os.Stderr, &slog.HandlerOptions{Level: libp2pLevel{level}}))
	return logger, level, nil
}

func handlerFor(format string) (func(io.Writer, *slog.HandlerOptions) slog.Handler, error) {
	switch format {
	case "text":
		return func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }, nil
	case "json":
		return func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) }, nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// libp2pLevel follows the daemon's level for libp2p's logs, which are
// chatty at info: below debug only their warnings are shown.
type libp2pLevel struct{ daemon *slog.LevelVar }

func (l libp2pLevel) Level() slog.Level {
	if lvl := l.daemon.Level(); lvl <= slog.LevelDebug {
		return lvl
	}
	return max(l.daemon.Level(), slog.LevelWarn)
}

// addDaemonFlags defines the daemon's flags.
func addDaemonFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArray("listen", nil, "libp2p listen multiaddr (repeatable; overrides the config file)")
	f.String("api", "", "local API address HOST:PORT (default from the config file, 127.0.0.1:7700)")
	f.Int("relay-capacity", 0, "listeners this node relays each room's audio to (overrides the config file, default 4; 0 means leaf only)")
	f.Bool("standby-links", false, "as a listener, keep a standby link to the first backup parent (overrides the config's standby_links; default off)")
	f.String("metrics-addr", "", "serve Prometheus metrics on HOST:PORT at /metrics (overrides the config's metrics_addr; default off)")
	f.Bool("metrics-allow-remote", false, "allow a metrics address other than loopback (the metrics name rooms and peers)")
	f.Int("uplink-kbps", 0, "your uplink in kbit/s, to warn when relay capacity exceeds it (overrides the config's uplink_kbps)")
	f.Bool("mdns", true, "discover members on the local network with mDNS (overrides the config file)")
	f.Duration("room-announce-interval", 5*time.Second,
		"how often hosted rooms are re-announced; hallways forget a room three of it (and 2 s) after its last announcement")
	f.Duration("media-stall", 0,
		"how long a parent's audio may stop before it is asked whether it is there (default 60ms; negative: leave dead parents to heartbeats)")
	f.String("cpu-profile", "", "write a CPU profile of the daemon's run to FILE (complete once it stops cleanly), for go tool pprof")
	f.String("heap-profile", "", "write a heap profile to FILE when the daemon is told to stop, before it closes anything (what the running node holds, and every allocation of the run), for go tool pprof")
	f.String("log-level", "info", "log level: debug, info, warn or error (clubnode log-level changes it while running)")
	f.String("log-format", "text", "log format: text or json (one JSON object a line, for journald or a log shipper)")
}

// startCPUProfile profiles the process's CPU into path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// writeHeapProfile writes the heap profile (after a collection, so that
// the live figures are current) to path.
func writeHeapProfile(log *slog.Logger, path string) {
	f, err := os.Create(path)
	if err != nil {
		log.Warn("heap profile", "err", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		log.Warn("heap profile", "err", err)
	}
}
