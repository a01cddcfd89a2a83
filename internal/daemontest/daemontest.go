// Package daemontest runs the real clubnode binary for tests: it builds it
// once per test binary, makes homes, starts daemons and runs CLI commands
// against them, on this machine or inside a host of a netlab lab (the CLI
// must run where the daemon runs: its API listens on that loopback).
package daemontest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Runner runs programs somewhere: Local, or a *netlab.Host.
type Runner interface {
	Command(ctx context.Context, name string, args ...string) *exec.Cmd
}

type local struct{}

func (local) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}

// Local runs programs on this machine, in the test's own namespaces.
var Local Runner = local{}

// cliTimeout bounds one CLI command; the CLI's own request timeout (two
// minutes, for joins that must first reach the inviter) comes first.
const cliTimeout = 3 * time.Minute

var build struct {
	sync.Mutex
	main bool   // Main is running the tests
	dir  string // where the binary is, once built
	path string
	err  error
}

// Main runs the tests and then removes the binary Binary built. A test
// package that uses this package calls it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(daemontest.Main(m)) }
func Main(m *testing.M) int {
	build.Lock()
	build.main = true
	build.Unlock()
	code := m.Run()
	build.Lock()
	defer build.Unlock()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	return code
}

// Binary is the path of the clubnode binary, built on first use.
func Binary() (string, error) {
	build.Lock()
	defer build.Unlock()
	if !build.main {
		return "", fmt.Errorf("daemontest: call daemontest.Main from TestMain, so the binary it builds is removed afterwards")
	}
	if build.path != "" || build.err != nil {
		return build.path, build.err
	}
	dir, err := os.MkdirTemp("", "clubnode-bin-")
	if err != nil {
		build.err = fmt.Errorf("daemontest: %w", err)
		return "", build.err
	}
	build.dir = dir
	path := filepath.Join(dir, "clubnode")
	out, err := exec.Command("go", "build", "-o", path, "github.com/clubnode/clubnode/cmd/clubnode").CombinedOutput()
	if err != nil {
		build.err = fmt.Errorf("daemontest: build clubnode: %w: %s", err, out)
		return "", build.err
	}
	build.path = path
	return path, nil
}

// MustBinary is Binary, failing the test when the build fails.
func MustBinary(t testing.TB) string {
	t.Helper()
	path, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// CLI runs one clubnode command for home through r and returns its
// stdout; a non-zero exit is an error carrying the command and its stderr.
func CLI(r Runner, home string, args ...string) (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := r.Command(ctx, bin, append([]string{"--home", home}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("clubnode %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// Init makes a new home for a node called name in a temporary folder of
// the test, with `clubnode init`, and returns the folder.
func Init(t testing.TB, r Runner, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "home")
	if _, err := CLI(r, dir, "init", "--name", name); err != nil {
		t.Fatal(err)
	}
	return dir
}
