package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// These tests run the real clubnode binary as separate processes, each
// with its own home, libp2p ports and API port on loopback.

func TestMain(m *testing.M) {
	if addr := os.Getenv(attackEnv); addr != "" {
		runAttacker(addr) // a helper process of TestOwnerCLIDuringConnectionFlood
		return
	}
	os.Exit(daemontest.Main(m))
}

type daemon = daemontest.Daemon

// clubnode runs one CLI command against home and returns its stdout; a
// non-zero exit becomes an error carrying stderr.
func clubnode(home string, args ...string) (string, error) {
	return daemontest.CLI(daemontest.Local, home, args...)
}

func mustRun(t *testing.T, home string, args ...string) string {
	t.Helper()
	out, err := clubnode(home, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustJSON[T any](t *testing.T, home string, args ...string) T {
	t.Helper()
	var v T
	out := mustRun(t, home, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("clubnode %v --json: %v in %q", args, err, out)
	}
	return v
}

func initHome(t *testing.T, name string) string {
	t.Helper()
	return daemontest.Init(t, daemontest.Local, name)
}

// freeListenAddrs picks a TCP and a UDP port that are free now, so a
// daemon can be restarted on the same addresses, as a configured one would.
func freeListenAddrs(t *testing.T) []string {
	t.Helper()
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	ul, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	return []string{
		fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", tl.Addr().(*net.TCPAddr).Port),
		fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", ul.LocalAddr().(*net.UDPAddr).Port),
	}
}

// startDaemon starts `clubnode daemon` for home and waits until its API
// answers. Without listen addresses it listens on free loopback ports.
func startDaemon(t *testing.T, dir string, listen ...string) *daemon {
	t.Helper()
	return startDaemonOn(t, dir, "127.0.0.1:0", listen...)
}

// startDaemonOn is startDaemon with the API on a given address.
func startDaemonOn(t *testing.T, dir, api string, listen ...string) *daemon {
	t.Helper()
	return daemontest.Start(t, daemontest.Local, dir, daemontest.Options{API: api, Listen: listen})
}

// startDaemonVia is startDaemonOn run through a wrapper command (such as
// prlimit), which must exec the daemon.
func startDaemonVia(t *testing.T, wrapper []string, dir, api string, listen ...string) *daemon {
	t.Helper()
	return daemontest.Start(t, wrapped(wrapper), dir, daemontest.Options{API: api, Listen: listen})
}

// wrapped runs commands through a wrapper command.
type wrapped []string

func (w wrapped) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, w[0], append(append(append([]string{}, w[1:]...), name), args...)...)
}

func TestInitRefusesToOverwrite(t *testing.T) {
	dir := initHome(t, "Alice")
	key, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = clubnode(dir, "init", "--name", "Mallory")
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second init: %v", err)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if !bytes.Equal(key, again) {
		t.Fatal("second init changed the home")
	}
	startDaemon(t, dir)
	if id := mustJSON[apiv1.Identity](t, dir, "id"); id.Name != "Alice" {
		t.Fatalf("name after a refused init = %q", id.Name)
	}
}

// A daemon killed with SIGKILL restarts with everything it had: identity,
// network, chain, issued invites and their use counts, revocations,
// profiles and known peers.
func TestSIGKILLLosesNothing(t *testing.T) {
	a, b, c, d, e := initHome(t, "Alice"), initHome(t, "Bob"), initHome(t, "Carol"), initHome(t, "Dave"), initHome(t, "Eve")
	listenA := freeListenAddrs(t)
	da := startDaemon(t, a, listenA...)
	startDaemon(t, b)
	startDaemon(t, c)
	startDaemon(t, d)

	mustRun(t, a, "network", "create", "Night Owls")
	mustRun(t, a, "profile", "set", "--name", "Alice A.", "--bio", "founder")
	token := strings.TrimSpace(mustRun(t, a, "invite", "--uses", "2"))
	start := time.Now()
	mustRun(t, b, "join", token)
	t.Logf("clubnode join (bearer, loopback): %s from command to member", time.Since(start))
	idB := mustJSON[apiv1.Identity](t, b, "id").PeerID
	// Bob invites Dave; Alice revokes Dave.
	mustRun(t, d, "join", strings.TrimSpace(mustRun(t, b, "invite")))
	idD := mustJSON[apiv1.Identity](t, d, "id").PeerID
	testutil.Eventually(t, 15*time.Second, func() error {
		_, err := clubnode(a, "profile", "show", idD)
		return err
	})
	mustRun(t, a, "revoke", idD)

	before := mustJSON[apiv1.Identity](t, a, "id")
	membersBefore := mustJSON[[]apiv1.Member](t, a, "members")

	da.Kill() // SIGKILL: no chance to flush or clean up
	startDaemon(t, a, listenA...)

	after := mustJSON[apiv1.Identity](t, a, "id")
	if after.PeerID != before.PeerID || after.Network == nil || *after.Network != *before.Network {
		t.Fatalf("identity after restart = %+v, want %+v", after, before)
	}
	self := mustJSON[apiv1.Member](t, a, "profile", "show", after.PeerID)
	if self.Name != "Alice A." || self.Bio != "founder" {
		t.Fatalf("own profile after restart = %+v", self)
	}
	// Known peers: the restarted node finds Bob again by itself.
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, m := range mustJSON[[]apiv1.Member](t, a, "members") {
			if m.PeerID == idB && m.Connected {
				return nil
			}
		}
		return errors.New("Alice has not reconnected to Bob")
	})
	membersAfter := mustJSON[[]apiv1.Member](t, a, "members")
	if len(membersAfter) != len(membersBefore) {
		t.Fatalf("members after restart = %d, before = %d", len(membersAfter), len(membersBefore))
	}
	for _, m := range membersAfter {
		if m.PeerID == idD {
			t.Fatal("the revocation of Dave was lost: he is listed again")
		}
	}
	// The invite's use count survived: one use is left, then none.
	startDaemon(t, c)
	mustRun(t, c, "join", token)
	startDaemon(t, e)
	if _, err := clubnode(e, "join", token); err == nil || !strings.Contains(err.Error(), "already used 2 of 2") {
		t.Fatalf("third redemption of a 2-use invite: %v", err)
	}
}

// Bad tokens get a clear error and change nothing stored.
func TestJoinRejectsBadTokens(t *testing.T) {
	a, b := initHome(t, "Alice"), initHome(t, "Bob")
	startDaemon(t, a)
	startDaemon(t, b)
	mustRun(t, a, "network", "create", "Night Owls")
	token := strings.TrimSpace(mustRun(t, a, "invite"))
	other := initHome(t, "Olga")
	startDaemon(t, other)
	mustRun(t, other, "network", "create", "Elsewhere")

	tampered := []byte(token)
	tampered[len(tampered)/2] ^= 'A' ^ 'B'
	cases := []struct {
		name, home, token, want string
	}{
		{"truncated", b, token[:len(token)/2], "the token looks cut off: copy all of it"},
		{"tampered", b, string(tampered), ""},
		{"not a token", b, "hello", "not a clubnode invite"},
		{"wrong network", other, token, "already a member"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := clubnode(tc.home, "join", tc.token)
			if err == nil {
				t.Fatal("join succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
	if id := mustJSON[apiv1.Identity](t, b, "id"); id.Network != nil {
		t.Fatalf("a refused token changed Bob's state: network %+v", id.Network)
	}
	// The good token still works afterwards.
	mustRun(t, b, "join", token)
}

func TestNoDaemonSaysSo(t *testing.T) {
	dir := initHome(t, "Alice")
	_, err := clubnode(dir, "members")
	if err == nil || !strings.Contains(err.Error(), "no clubnode daemon is running") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(home.Home{Dir: dir}.APIFilePath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("api file present without a daemon: %v", err)
	}
}

// A token bound to a peer ID is the certificate itself: it works while the
// inviter is offline, and the new member meets the inviter when it is back.
func TestBoundInviteWorksOffline(t *testing.T) {
	a, c := initHome(t, "Alice"), initHome(t, "Carol")
	listenA := freeListenAddrs(t)
	da := startDaemon(t, a, listenA...)
	startDaemon(t, c)
	mustRun(t, a, "network", "create", "Night Owls")
	idA := mustJSON[apiv1.Identity](t, a, "id").PeerID
	idC := mustJSON[apiv1.Identity](t, c, "id").PeerID
	token := strings.TrimSpace(mustRun(t, a, "invite", "--for", idC))
	da.Stop()

	// Inspecting it needs nobody: a bound token carries its chain.
	if out := mustRun(t, c, "invite", "inspect", token); !strings.Contains(out, "Night Owls") || !strings.Contains(out, "this node only") {
		t.Fatalf("inspect of a bound token with the inviter offline:\n%s", out)
	}
	res := mustJSON[apiv1.JoinResult](t, c, "join", token)
	if res.InvitedBy != idA || len(res.Chain) != 2 || res.Chain[1] != idC {
		t.Fatalf("join result = %+v", res)
	}
	startDaemon(t, a, listenA...)
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, m := range mustJSON[[]apiv1.Member](t, a, "members") {
			if m.PeerID == idC && m.Connected {
				return nil
			}
		}
		return errors.New("Alice does not see Carol connected")
	})
	// Someone else cannot use Carol's token.
	e := initHome(t, "Eve")
	startDaemon(t, e)
	if _, err := clubnode(e, "join", token); err == nil || !strings.Contains(err.Error(), "bound to") {
		t.Fatalf("Eve joining with Carol's token: %v", err)
	}
}
