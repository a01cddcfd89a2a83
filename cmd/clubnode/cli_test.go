package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubnode/clubnode/node/apiguard"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

const testToken = "cli-test-token"

// fakeDaemon stands in for a running daemon: the real guard in front of
// canned answers, published through a temp home's api and api-token files
// exactly as the daemon publishes itself.
type fakeDaemon struct {
	home home.Home
	id   apiv1.Identity

	mu       sync.Mutex
	requests []any // decoded request bodies, in order
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	net1 := apiv1.Network{ID: "net1", Name: "Friends", Founder: "peerF"}
	d := &fakeDaemon{
		home: home.Home{Dir: t.TempDir()},
		id: apiv1.Identity{
			PeerID:  "peerA",
			Name:    "alice",
			Addrs:   []string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"},
			Network: &net1,
		},
	}
	members := map[string]apiv1.Member{
		"peerA": {PeerID: "peerA", Name: "alice", Bio: "old bio", InvitedBy: "peerB", Chain: []string{"peerF", "peerB", "peerA"}},
		"peerB": {PeerID: "peerB", Name: "bob", InvitedBy: "peerF", Chain: []string{"peerF", "peerB"}, Connected: true},
	}
	mux := http.NewServeMux()
	mux.HandleFunc(apiv1.RouteID, func(w http.ResponseWriter, r *http.Request) {
		apiv1.WriteJSON(w, http.StatusOK, d.id)
	})
	mux.HandleFunc(apiv1.RouteCreateInvite, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.CreateInviteRequest
		if !d.decode(w, r, &req) {
			return
		}
		apiv1.WriteJSON(w, http.StatusOK, apiv1.Invite{
			Token: "clubnode-invite-XYZ", Network: net1, Uses: req.Uses, For: req.For,
			Expires: time.Date(2026, 7, 4, 0, 0, 0, 0, time.UTC),
		})
	})
	mux.HandleFunc(apiv1.RouteJoin, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.JoinRequest
		if !d.decode(w, r, &req) {
			return
		}
		apiv1.WriteError(w, http.StatusGone, "invite token expired at 2026-07-01T12:00:00Z")
	})
	mux.HandleFunc(apiv1.RouteMembers, func(w http.ResponseWriter, r *http.Request) {
		apiv1.WriteJSON(w, http.StatusOK, []apiv1.Member{members["peerA"], members["peerB"]})
	})
	mux.HandleFunc(apiv1.RouteProfile, func(w http.ResponseWriter, r *http.Request) {
		m, ok := members[r.PathValue("peer")]
		if !ok {
			apiv1.WriteError(w, http.StatusNotFound, "not a member: "+r.PathValue("peer"))
			return
		}
		apiv1.WriteJSON(w, http.StatusOK, m)
	})
	mux.HandleFunc(apiv1.RouteSetProfile, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.SetProfileRequest
		if !d.decode(w, r, &req) {
			return
		}
		m := members["peerA"]
		m.Name, m.Bio = req.Name, req.Bio
		apiv1.WriteJSON(w, http.StatusOK, m)
	})
	mux.HandleFunc(apiv1.RouteRevoke, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.RevokeRequest
		if !d.decode(w, r, &req) {
			return
		}
		apiv1.WriteJSON(w, http.StatusOK, apiv1.Revocation{Peer: req.Peer, Revoker: "peerA", WithInvitees: req.WithInvitees, At: time.Now().UTC()})
	})
	mux.HandleFunc(apiv1.RoutePeers, func(w http.ResponseWriter, r *http.Request) {
		apiv1.WriteJSON(w, http.StatusOK, []apiv1.Peer{})
	})

	srv := httptest.NewServer(apiguard.Guard{Token: testToken}.Wrap(mux))
	t.Cleanup(srv.Close)
	if err := home.WriteAPIEndpoint(d.home, strings.TrimPrefix(srv.URL, "http://"), testToken); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *fakeDaemon) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := apiv1.ReadJSON(r, v); err != nil {
		apiv1.WriteError(w, http.StatusBadRequest, err.Error())
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests = append(d.requests, reflect.ValueOf(v).Elem().Interface())
	return true
}

func (d *fakeDaemon) lastRequest(t *testing.T) any {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.requests) == 0 {
		t.Fatal("daemon received no request body")
	}
	return d.requests[len(d.requests)-1]
}

// run executes the CLI in-process with args and returns its stdout.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return stdout.String(), err
}

func TestIDJSON(t *testing.T) {
	d := newFakeDaemon(t)
	out, err := run(t, "--home", d.home.Dir, "id", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got apiv1.Identity
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q is not JSON: %v", out, err)
	}
	if !reflect.DeepEqual(got, d.id) {
		t.Errorf("got %+v, want %+v", got, d.id)
	}
	if !strings.Contains(out, "\n  \"peer_id\"") {
		t.Errorf("output is not indented: %q", out)
	}
}

func TestIDHuman(t *testing.T) {
	d := newFakeDaemon(t)
	out, err := run(t, "id", "--home", d.home.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"peer id:    peerA\n", "Friends (id net1, founder peerF)", "  /ip4/127.0.0.1/tcp/4001\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
}

func TestHomeFromEnv(t *testing.T) {
	d := newFakeDaemon(t)
	t.Setenv(home.EnvVar, d.home.Dir)
	if _, err := run(t, "id"); err != nil {
		t.Fatal(err)
	}
}

func TestInvite(t *testing.T) {
	d := newFakeDaemon(t)
	out, err := run(t, "--home", d.home.Dir, "invite", "--uses", "2")
	if err != nil {
		t.Fatal(err)
	}
	if out != "clubnode-invite-XYZ\n" {
		t.Errorf("output = %q, want just the token line", out)
	}
	want := apiv1.CreateInviteRequest{Uses: 2, ExpiresSeconds: 72 * 3600}
	if got := d.lastRequest(t); got != want {
		t.Errorf("daemon got %+v, want %+v", got, want)
	}

	if _, err := run(t, "--home", d.home.Dir, "invite", "--for", "peerZ", "--expires", "1h30m"); err != nil {
		t.Fatal(err)
	}
	want = apiv1.CreateInviteRequest{Uses: 1, ExpiresSeconds: 5400, For: "peerZ"}
	if got := d.lastRequest(t); got != want {
		t.Errorf("daemon got %+v, want %+v", got, want)
	}

	for _, args := range [][]string{{"--uses", "0"}, {"--expires", "0s"}, {"--uses", "many"}} {
		if _, err := run(t, append([]string{"--home", d.home.Dir, "invite"}, args...)...); err == nil {
			t.Errorf("invite %v succeeded", args)
		}
	}
}

func TestServerErrorIsShownAsIs(t *testing.T) {
	d := newFakeDaemon(t)
	_, err := run(t, "--home", d.home.Dir, "join", "some-token")
	if err == nil || oneLine(err) != "invite token expired at 2026-07-01T12:00:00Z" {
		t.Errorf("err = %v", err)
	}
	if got := d.lastRequest(t); got != (apiv1.JoinRequest{Token: "some-token"}) {
		t.Errorf("daemon got %+v", got)
	}
}

func TestProfile(t *testing.T) {
	d := newFakeDaemon(t)
	out, err := run(t, "--home", d.home.Dir, "profile", "show", "peerA")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"invited by: peerB\n", "chain:      peerF -> peerB -> peerA\n", "bio:        old bio\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}

	// A flag left out keeps the current value.
	if _, err := run(t, "--home", d.home.Dir, "profile", "set", "--name", "Alice"); err != nil {
		t.Fatal(err)
	}
	if got, want := d.lastRequest(t), (apiv1.SetProfileRequest{Name: "Alice", Bio: "old bio"}); got != want {
		t.Errorf("daemon got %+v, want %+v", got, want)
	}
	if _, err := run(t, "--home", d.home.Dir, "profile", "set", "--name", "A", "--bio", ""); err != nil {
		t.Fatal(err)
	}
	if got, want := d.lastRequest(t), (apiv1.SetProfileRequest{Name: "A"}); got != want {
		t.Errorf("daemon got %+v, want %+v", got, want)
	}
	if _, err := run(t, "--home", d.home.Dir, "profile", "set"); err == nil {
		t.Error("profile set without flags succeeded")
	}

	_, err = run(t, "--home", d.home.Dir, "profile", "show", "stranger")
	if err == nil || err.Error() != `no member is called "stranger" or has a peer ID starting with it (clubnode members lists them)` {
		t.Errorf("err = %v", err)
	}
}

func TestListsAndRevoke(t *testing.T) {
	d := newFakeDaemon(t)
	out, err := run(t, "--home", d.home.Dir, "members")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "bob (peerB)") {
		t.Errorf("members output %q", out)
	}

	out, err = run(t, "--home", d.home.Dir, "peers", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("peers --json = %q, want []", out)
	}

	out, err = run(t, "--home", d.home.Dir, "revoke", "peerB", "--with-invitees")
	if err != nil {
		t.Fatal(err)
	}
	if out != "revoked peerB and everyone they invited\n" {
		t.Errorf("revoke output %q", out)
	}
	if got, want := d.lastRequest(t), (apiv1.RevokeRequest{Peer: "peerB", WithInvitees: true}); got != want {
		t.Errorf("daemon got %+v, want %+v", got, want)
	}
}

func TestWrongToken(t *testing.T) {
	d := newFakeDaemon(t)
	if err := home.WriteAtomic(d.home.TokenPath(), []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, "--home", d.home.Dir, "id")
	if err == nil || err.Error() != "wrong API token" {
		t.Errorf("err = %v", err)
	}
}

func TestNoDaemon(t *testing.T) {
	dir := t.TempDir()
	want := "no clubnode daemon is running for home " + dir + " (start it with: clubnode daemon)"
	// An initialised home: its config file is what marks it (a home
	// without one says "no node here", TestNoNodeHere).
	if err := home.SaveConfig(home.Home{Dir: dir}.ConfigPath(), home.DefaultConfig()); err != nil {
		t.Fatal(err)
	}

	t.Run("no api file", func(t *testing.T) {
		_, err := run(t, "--home", dir, "id", "--json")
		if !errors.Is(err, home.ErrNoDaemon) || oneLine(err) != want {
			t.Errorf("err = %v, want %q", err, want)
		}
	})

	t.Run("nothing listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if err := home.WriteAPIEndpoint(home.Home{Dir: dir}, addr, testToken); err != nil {
			t.Fatal(err)
		}
		_, err = run(t, "--home", dir, "invite", "--uses", "2")
		if !errors.Is(err, home.ErrNoDaemon) || oneLine(err) != want {
			t.Errorf("err = %v, want %q", err, want)
		}
	})
}

func TestOneLine(t *testing.T) {
	_, err := run(t, "membres")
	if err == nil {
		t.Fatal("unknown command succeeded")
	}
	if got := oneLine(err); strings.Contains(got, "\n") || !strings.Contains(got, "unknown command") {
		t.Errorf("oneLine = %q", got)
	}
}
