package daemontest

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
)

// LabListen are the listen addresses of a daemon alone in a netlab host:
// every interface, on the usual port.
var LabListen = []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}

// Options are the daemon's flags.
type Options struct {
	// API is --api; the default is a free loopback port (the CLI finds
	// it in the home's api file).
	API string
	// Listen are the --listen addresses; the default is TCP and QUIC on
	// free loopback ports.
	Listen []string
	// Extra are more daemon flags, e.g. "--room-announce-interval", "1s".
	Extra []string
}

// readyTimeout is how long a daemon may take to answer its API.
const readyTimeout = 30 * time.Second

// Daemon is a running `clubnode daemon`.
type Daemon struct {
	t      testing.TB
	Home   string
	Runner Runner

	cmd     *exec.Cmd
	log     testutil.LockedBuffer
	done    chan struct{} // closed when the process has exited
	exitErr error         // set before done is closed
}

// Start starts `clubnode daemon` for home through r, with mDNS off, and
// waits until its API answers. When the test ends the daemon is killed if
// it still runs, and its log is printed if the test failed.
func Start(t testing.TB, r Runner, home string, o Options) *Daemon {
	t.Helper()
	bin := MustBinary(t)
	if o.API == "" {
		o.API = "127.0.0.1:0"
	}
	if len(o.Listen) == 0 {
		o.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	}
	args := []string{"--home", home, "daemon", "--api", o.API, "--mdns=false"}
	for _, a := range o.Listen {
		args = append(args, "--listen", a)
	}
	args = append(args, o.Extra...)
	// The context is never cancelled: the daemon outlives this call, and
	// Stop and Kill end it.
	d := &Daemon{t: t, Home: home, Runner: r, done: make(chan struct{}),
		cmd: r.Command(context.Background(), bin, args...)}
	d.cmd.Stdout, d.cmd.Stderr = &d.log, &d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start clubnode daemon: %v", err)
	}
	// The process's owner: it ends when the process does, which Kill (at
	// the latest in the test's cleanup) guarantees.
	go func() {
		d.exitErr = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.Kill()
		if t.Failed() {
			t.Logf("log of the daemon for %s:\n%s", home, d.Log())
		}
	})
	d.waitReady()
	return d
}

// waitReady polls the API with `clubnode id` until it answers: the api
// file alone proves nothing, since a killed daemon leaves its file behind.
func (d *Daemon) waitReady() {
	d.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		_, err := CLI(d.Runner, d.Home, "id")
		if err == nil {
			return
		}
		select {
		case <-d.done:
			d.t.Fatalf("the daemon for %s exited before answering (%v); log:\n%s", d.Home, d.exitErr, d.Log())
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the daemon for %s did not answer within %s (%v); log:\n%s", d.Home, readyTimeout, err, d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log is what the daemon has written so far.
func (d *Daemon) Log() string { return d.log.String() }

// Stop sends SIGTERM and waits for a clean exit, failing the test if the
// daemon does not exit within 30 s or exits with an error.
func (d *Daemon) Stop() {
	d.t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.Kill()
		d.t.Fatalf("the daemon for %s did not stop within 30s of SIGTERM; log:\n%s", d.Home, d.Log())
	}
	if d.exitErr != nil {
		d.t.Fatalf("daemon exit after SIGTERM: %v; log:\n%s", d.exitErr, d.Log())
	}
}

// Kill sends SIGKILL, as a crash or a power cut would, and waits for the
// process to be gone. It does nothing to a daemon that already exited.
func (d *Daemon) Kill() {
	select {
	case <-d.done:
	default:
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
	}
}

// Wait waits up to timeout for the daemon to exit by itself (after
// `clubnode shutdown`, say) and returns its exit error.
func (d *Daemon) Wait(timeout time.Duration) error {
	if !d.Running() {
		return d.exitErr
	}
	select {
	case <-d.done:
		return d.exitErr
	case <-time.After(timeout):
		return fmt.Errorf("the daemon for %s still runs after %s", d.Home, timeout)
	}
}

// Running reports whether the daemon process is still alive.
func (d *Daemon) Running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// CLI runs one clubnode command against this daemon, where it runs.
func (d *Daemon) CLI(args ...string) (string, error) { return CLI(d.Runner, d.Home, args...) }

// Must is CLI, failing t (the test or subtest running the command) on an
// error.
func (d *Daemon) Must(t testing.TB, args ...string) string {
	t.Helper()
	out, err := d.CLI(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// JSON runs a command with --json against d and decodes its answer into a
// T, failing t on an error.
func JSON[T any](t testing.TB, d *Daemon, args ...string) T {
	t.Helper()
	var v T
	out := d.Must(t, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("clubnode %v --json: %v in %q", args, err, out)
	}
	return v
}
