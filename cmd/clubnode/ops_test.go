package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/internal/version"
	"github.com/clubnode/clubnode/node/home"
)

// clubnode shutdown stops the daemon cleanly: the daemon exits 0 after
// its normal shutdown, the API file is gone, and the CLI returned only
// once the process had exited.
func TestShutdownCommand(t *testing.T) {
	dir := initHome(t, "Alice")
	d := startDaemon(t, dir)
	out := mustRun(t, dir, "shutdown")
	if out != "daemon stopped\n" {
		t.Fatalf("shutdown printed %q", out)
	}
	// The CLI returned once the process had exited (a zombie counts:
	// the test's own reaper may not have run yet), so it is gone at once.
	if err := d.Wait(5 * time.Second); err != nil {
		t.Fatalf("the CLI returned, but the daemon: %v", err)
	}
	if !strings.Contains(d.Log(), "clubnode daemon stopping") {
		t.Fatalf("no clean stop in the log:\n%s", d.Log())
	}
	if _, _, err := home.ReadAPIEndpoint(home.Home{Dir: dir}); err == nil {
		t.Fatal("the API file is still there")
	}
}

// --log-format json logs one JSON object a line, libp2p's lines too; the
// level changes while the daemon runs; healthz needs no token.
func TestJSONLogsAndLogLevel(t *testing.T) {
	dir := initHome(t, "Alice")
	d := daemontest.Start(t, daemontest.Local, dir, daemontest.Options{Extra: []string{"--log-format", "json"}})
	addr, _, err := home.ReadAPIEndpoint(home.Home{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", resp.Status)
	}
	if got := mustRun(t, dir, "log-level"); got != "info\n" {
		t.Fatalf("log-level: %q", got)
	}
	if got := mustRun(t, dir, "log-level", "debug"); got != "debug\n" {
		t.Fatalf("log-level debug: %q", got)
	}
	if _, err := clubnode(dir, "log-level", "loud"); err == nil || !strings.Contains(err.Error(), "want debug, info, warn or error") {
		t.Fatalf("log-level loud: %v", err)
	}
	mustRun(t, dir, "network", "create", "Night Owls") // something to log at debug
	mustRun(t, dir, "shutdown")
	if err := d.Wait(10 * time.Second); err != nil {
		t.Fatalf("daemon exit: %v", err)
	}
	var debug int
	sc := bufio.NewScanner(strings.NewReader(d.Log()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", sc.Text())
		}
		if rec["level"] == "DEBUG" {
			debug++
		}
	}
	if debug == 0 {
		t.Fatalf("no debug lines after log-level debug:\n%s", d.Log())
	}
}

func TestVersion(t *testing.T) {
	dir := t.TempDir()
	line := mustRun(t, dir, "version")
	if flag := mustRun(t, dir, "--version"); flag != line || !strings.HasPrefix(line, "clubnode ") {
		t.Fatalf("version %q, --version %q", line, flag)
	}
	info := mustJSON[version.Info](t, dir, "version")
	if info.Module != "github.com/clubnode/clubnode" || info.Version == "" || !strings.HasPrefix(info.GoVersion, "go") {
		t.Fatalf("version --json: %+v", info)
	}
}

// A home that was never initialised says so, rather than "no daemon".
func TestNoNodeHere(t *testing.T) {
	_, err := clubnode(t.TempDir()+"/nothing", "members")
	if err == nil || !strings.Contains(err.Error(), "no node here") || !strings.Contains(err.Error(), "clubnode init") {
		t.Fatalf("err = %v", err)
	}
}
