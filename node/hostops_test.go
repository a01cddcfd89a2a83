package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/clubnode/clubnode/node/apiv1"
)

// GET /healthz answers without a token and says nothing but "ok".
func TestHealthzNeedsNoToken(t *testing.T) {
	u := startUINode(t, "Alice")
	resp, err := http.Get(u.url + apiv1.PathHealth)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("healthz: %s %q", resp.Status, body)
	}
	// Everything else still needs the token.
	resp, err = http.Get(u.url + apiv1.PathLogLevel)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("log level without a token: %s", resp.Status)
	}
}

// The log level follows the API; a node without a LevelVar says so.
func TestLogLevelThroughAPI(t *testing.T) {
	ctx := context.Background()
	u := startUINode(t, "Alice")
	c := apiv1.NewClient(u.APIAddr(), u.APIToken())
	if _, err := c.LogLevel(ctx); statusOfAPI(err) != http.StatusServiceUnavailable {
		t.Fatalf("log level of a node with a fixed logger: %v", err)
	}
	level := new(slog.LevelVar)
	u.cfg.LogLevel = level
	if got, err := c.LogLevel(ctx); err != nil || got.Level != "info" {
		t.Fatalf("log level: %+v, %v", got, err)
	}
	if got, err := c.SetLogLevel(ctx, "DEBUG"); err != nil || got.Level != "debug" || level.Level() != slog.LevelDebug {
		t.Fatalf("set debug: %+v, %v (level %s)", got, err, level.Level())
	}
	if _, err := c.SetLogLevel(ctx, "loud"); statusOfAPI(err) != http.StatusBadRequest || level.Level() != slog.LevelDebug {
		t.Fatalf("set loud: %v (level %s)", err, level.Level())
	}
}

// A signed-in browser can neither stop the daemon nor change its log
// level: those are the API token's.
func TestBrowserCannotStopDaemon(t *testing.T) {
	u := startUINode(t, "Alice")
	u.cfg.LogLevel = new(slog.LevelVar)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(u.loginURL(t))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var info apiv1.SessionInfo
	if err := getJSON(browser, u.url+apiv1.PathSession, &info); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{apiv1.PathShutdown, apiv1.PathLogLevel} {
		body := `{}`
		if path == apiv1.PathLogLevel {
			body = `{"level":"debug"}`
		}
		req, _ := http.NewRequest(http.MethodPost, u.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(info.CSRFHeader, info.CSRFToken)
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("POST %s from a browser session: %s, want 403", path, resp.Status)
		}
	}
	select {
	case <-u.stopReq:
		t.Fatal("a browser session stopped the daemon")
	default:
	}
}

// Shutdown with the token makes Serve return, after answering.
func TestShutdownEndsServe(t *testing.T) {
	n := startTestNode(t, "Alice")
	if err := n.cfg.Home.EnsureDir(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Serve(context.Background()) }()
	c := apiv1.NewClient(n.APIAddr(), n.APIToken())
	res, err := c.Shutdown(context.Background())
	if err != nil || !res.Stopping || res.PID == 0 {
		t.Fatalf("shutdown: %+v, %v", res, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
}

func statusOfAPI(err error) int {
	var apiErr *apiv1.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	return 0
}

func getJSON(c *http.Client, url string, v any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("GET " + url + ": " + resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
