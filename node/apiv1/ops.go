package apiv1

import (
	"context"
	"net/http"
)

// Operations endpoints, for the people who run a node: stop it, change how
// much it logs. Both take the API token only, never a browser session.
const (
	// PathHealth is outside /api and needs no token: it answers 200 while
	// the daemon serves, and says nothing else.
	PathHealth   = "/healthz"
	PathShutdown = "/api/v1/shutdown"  // POST (API token only): stop the daemon cleanly
	PathLogLevel = "/api/v1/log-level" // GET, POST (API token only): the daemon's log level

	RouteHealth      = "GET " + PathHealth
	RouteShutdown    = "POST " + PathShutdown
	RouteLogLevel    = "GET " + PathLogLevel
	RouteSetLogLevel = "POST " + PathLogLevel
)

// ShutdownResult answers a shutdown request: the daemon stops once the
// answer is sent.
type ShutdownResult struct {
	Stopping bool `json:"stopping"`
	// PID is the daemon's process, so a client can wait for it to exit.
	PID int `json:"pid"`
}

// LogLevel is the daemon's log level: debug, info, warn or error.
type LogLevel struct {
	Level string `json:"level"`
}

// Shutdown asks the daemon to stop cleanly.
func (c *Client) Shutdown(ctx context.Context) (ShutdownResult, error) {
	var out ShutdownResult
	err := c.do(ctx, http.MethodPost, PathShutdown, struct{}{}, &out)
	return out, err
}

// LogLevel reads the daemon's log level.
func (c *Client) LogLevel(ctx context.Context) (LogLevel, error) {
	var out LogLevel
	err := c.do(ctx, http.MethodGet, PathLogLevel, nil, &out)
	return out, err
}

// SetLogLevel changes the daemon's log level until it stops.
func (c *Client) SetLogLevel(ctx context.Context, level string) (LogLevel, error) {
	var out LogLevel
	err := c.do(ctx, http.MethodPost, PathLogLevel, LogLevel{Level: level}, &out)
	return out, err
}
