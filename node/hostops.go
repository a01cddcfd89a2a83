package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/node/apiguard"
	"github.com/clubnode/clubnode/node/apiv1"
)

// What the people who run a node need from its API: a liveness check,
// a clean stop and the log level. Stopping and the log level are for the
// API token's holder only (the CLI, a script on the host): a browser
// session drives the user's rooms, not the daemon.

// serveHealth answers liveness probes: 200 while Serve runs, no data.
func serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

func tokenOnly(ctx context.Context, what string) error {
	if apiguard.AuthOf(ctx) != apiguard.AuthToken {
		return fmt.Errorf("%w: %s is for the API token holder (the clubnode CLI), not a browser", identity.ErrNotAuthorized, what)
	}
	return nil
}

// Shutdown makes Serve return once this answer is sent; the daemon then
// stops as it does on SIGTERM.
func (n *Node) Shutdown(ctx context.Context, _ struct{}) (apiv1.ShutdownResult, error) {
	if err := tokenOnly(ctx, "stopping the daemon"); err != nil {
		return apiv1.ShutdownResult{}, err
	}
	n.log.Info("shutdown requested through the API")
	n.stopOnce.Do(func() { close(n.stopReq) })
	return apiv1.ShutdownResult{Stopping: true, PID: os.Getpid()}, nil
}

// LogLevel is the daemon's current log level.
func (n *Node) LogLevel(ctx context.Context) (apiv1.LogLevel, error) {
	if err := tokenOnly(ctx, "the log level"); err != nil {
		return apiv1.LogLevel{}, err
	}
	if n.cfg.LogLevel == nil {
		return apiv1.LogLevel{}, fmt.Errorf("the log level is %w: this node was started with a fixed logger", ErrUnavailable)
	}
	return apiv1.LogLevel{Level: strings.ToLower(n.cfg.LogLevel.Level().String())}, nil
}

// SetLogLevel changes the log level until the daemon stops (the
// --log-level flag sets it at start).
func (n *Node) SetLogLevel(ctx context.Context, req apiv1.LogLevel) (apiv1.LogLevel, error) {
	if err := tokenOnly(ctx, "the log level"); err != nil {
		return apiv1.LogLevel{}, err
	}
	if n.cfg.LogLevel == nil {
		return apiv1.LogLevel{}, fmt.Errorf("the log level is %w: this node was started with a fixed logger", ErrUnavailable)
	}
	level, err := ParseLogLevel(req.Level)
	if err != nil {
		return apiv1.LogLevel{}, err
	}
	n.cfg.LogLevel.Set(level)
	n.log.Info("log level changed", "level", strings.ToLower(level.String()))
	return apiv1.LogLevel{Level: strings.ToLower(level.String())}, nil
}

// ParseLogLevel reads debug, info, warn or error (any case).
func ParseLogLevel(s string) (slog.Level, error) {
	var level slog.Level
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		if err := level.UnmarshalText([]byte(s)); err == nil {
			return level, nil
		}
	}
	return 0, invalid("log level %q: want debug, info, warn or error", clipBytes([]byte(s), 32))
}
