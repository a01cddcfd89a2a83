package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// daemon is one `clubnode daemon` this benchmark started, in a home of
// its own, with its API and libp2p on free loopback ports.
type daemon struct {
	index int
	name  string
	home  string
	cmd   *exec.Cmd
	log   *os.File
	api   *apiv1.Client
	id    string
	done  chan struct{} // closed when the process has exited
}

// cluster is the daemons of one run.
type cluster struct {
	bin     string
	dir     string
	daemons []*daemon
}

// run runs one clubnode CLI command for d's home.
func (c *cluster) run(ctx context.Context, d *daemon, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--home", d.home}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("clubnode %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// start makes n homes and starts a daemon in each, at most par at a time,
// with extra(i) flags for the i-th, and waits until every API answers.
func (c *cluster) start(ctx context.Context, n, capacity, par int, extra func(i int) []string) error {
	c.daemons = make([]*daemon, n)
	return parallel(ctx, n, par, func(ctx context.Context, i int) error {
		d := &daemon{index: i, name: fmt.Sprintf("node%03d", i), home: filepath.Join(c.dir, fmt.Sprintf("node%03d", i)),
			done: make(chan struct{})}
		c.daemons[i] = d
		if _, err := c.run(ctx, d, "init", "--name", d.name); err != nil {
			return err
		}
		log, err := os.Create(filepath.Join(d.home, "daemon.log"))
		if err != nil {
			return fmt.Errorf("daemon log: %w", err)
		}
		d.log = log
		args := []string{"--home", d.home, "daemon", "--api", "127.0.0.1:0", "--mdns=false",
			"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1",
			"--relay-capacity", strconv.Itoa(capacity), "--log-level", "info"}
		if extra != nil {
			args = append(args, extra(i)...)
		}
		d.cmd = exec.Command(c.bin, args...)
		d.cmd.Stdout, d.cmd.Stderr = log, log
		if err := d.cmd.Start(); err != nil {
			return fmt.Errorf("start daemon %s: %w", d.name, err)
		}
		go func() { // the process's owner: stop() kills it, then this returns
			_ = d.cmd.Wait()
			close(d.done)
		}()
		return c.ready(ctx, d)
	})
}

// ready waits until d's API answers with its peer ID.
func (c *cluster) ready(ctx context.Context, d *daemon) error {
	deadline := time.Now().Add(time.Minute)
	for {
		if addr, token, err := home.ReadAPIEndpoint(home.Home{Dir: d.home}); err == nil {
			api := apiv1.NewClient(addr, token)
			if id, err := api.ID(ctx); err == nil {
				d.api, d.id = api, id.PeerID
				return nil
			}
		}
		select {
		case <-d.done:
			return fmt.Errorf("daemon %s exited before answering (see %s)", d.name, d.log.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon %s did not answer in a minute", d.name)
		}
	}
}

// stop ends every daemon (resuming stopped ones first): SIGTERM, so that
// they stop cleanly (and write their CPU profiles), and SIGKILL for any
// still running 10 s later.
func (c *cluster) stop() {
	for _, d := range c.daemons {
		if d != nil && d.cmd != nil && d.cmd.Process != nil {
			_ = d.cmd.Process.Signal(syscall.SIGCONT)
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(10 * time.Second)
	for _, d := range c.daemons {
		if d == nil || d.cmd == nil || d.cmd.Process == nil {
			continue
		}
		select {
		case <-d.done:
		case <-deadline:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		_ = d.log.Close()
	}
}

// parallel runs fn(i) for i in [0, n), at most par at once, and returns
// the first error once all have returned.
func parallel(ctx context.Context, n, par int, fn func(ctx context.Context, i int) error) error {
	g := group.New(ctx)
	defer g.Close()
	errs := make(chan error, n)
	sem := make(chan struct{}, max(par, 1))
	started := 0
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			i = n // start no more; wait for those running
			continue
		}
		if g.Go(func(ctx context.Context) {
			defer func() { <-sem }()
			errs <- fn(ctx, i)
		}) {
			started++
		}
	}
	var first error
	for ; started > 0; started-- {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// eventually calls check every interval until it succeeds or timeout
// passes, and returns its last error.
func eventually(ctx context.Context, timeout, interval time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		if !group.Sleep(ctx, interval) {
			return ctx.Err()
		}
	}
}
