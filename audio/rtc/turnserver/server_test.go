package turnserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/clubnode/clubnode/internal/natkind"
	"github.com/clubnode/clubnode/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A member's relay carries UDP both ways between it and an allowed peer,
// from a port of the configured range, and the server counts it.
func TestRelaysToAnAllowedPeer(t *testing.T) {
	s := newServer(t, Config{RelayPortMin: 50000, RelayPortMax: 50999})
	creds := mustIssue(t, s, "alice")
	if err := s.AllowPeers("alice", []netip.Addr{loopback}); err != nil {
		t.Fatal(err)
	}
	if want := "turn:" + s.Addr().String() + "?transport=udp"; !slices.Contains(creds.URLs, want) {
		t.Fatalf("URLs %v lack %s", creds.URLs, want)
	}
	relay := allocate(t, s, creds)
	relayAddr := relay.LocalAddr().(*net.UDPAddr).AddrPort()
	if relayAddr.Addr() != loopback || relayAddr.Port() < 50000 || relayAddr.Port() > 50999 {
		t.Fatalf("relayed address %s: want 127.0.0.1 and a port in 50000-50999", relayAddr)
	}
	bob := peer(t, "127.0.0.1")

	if _, err := relay.WriteTo([]byte("hello bob"), bob.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	text, from := read(t, bob)
	if text != "hello bob" || from.(*net.UDPAddr).AddrPort() != relayAddr {
		t.Fatalf("bob read %q from %s, want hello bob from the relay %s", text, from, relayAddr)
	}
	if _, err := bob.WriteTo([]byte("hi alice"), from); err != nil {
		t.Fatal(err)
	}
	text, from = read(t, relay)
	if text != "hi alice" || from.String() != bob.LocalAddr().String() {
		t.Fatalf("alice read %q from %s, want hi alice from bob %s", text, from, bob.LocalAddr())
	}
	// The server counts a packet just after relaying it: wait for that.
	testutil.Eventually(t, 5*time.Second, func() error {
		st := s.Stats()
		if st.Allocations != 1 || st.AllocationsTotal != 1 || st.BytesToPeers != 9 || st.BytesFromPeers != 8 ||
			st.PacketsToPeers != 1 || st.PacketsFromPeers != 1 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

// A relay reaches only the allowed peers: a permission for anyone else is
// refused (403), packets from anyone else are dropped, and narrowing the
// allowed set stops a peer that had a permission at once.
func TestOnlyAllowedPeers(t *testing.T) {
	s := newServer(t, Config{})
	creds := mustIssue(t, s, "alice")
	if err := s.AllowPeers("alice", []netip.Addr{netip.MustParseAddr("127.0.0.2")}); err != nil {
		t.Fatal(err)
	}
	relay := allocate(t, s, creds)
	allowed, other := peer(t, "127.0.0.2"), peer(t, "127.0.0.3")

	_, err := relay.WriteTo([]byte("to a stranger"), other.LocalAddr())
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("sending to a peer not allowed: %v, want a 403 refusal", err)
	}
	if st := s.Stats(); st.PermissionRefused != 1 {
		t.Fatalf("permission refusals %d, want 1", st.PermissionRefused)
	}
	if _, err := relay.WriteTo([]byte("to bob"), allowed.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if text, _ := read(t, allowed); text != "to bob" {
		t.Fatalf("the allowed peer read %q", text)
	}

	// A stranger sending to the relayed address is dropped, before
	// the allowed peer's packet that follows it.
	for _, c := range []*net.UDPConn{other, allowed} {
		if _, err := c.WriteTo([]byte("from "+c.LocalAddr().String()), relay.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if text, from := read(t, relay); from.String() != allowed.LocalAddr().String() {
		t.Fatalf("alice read %q from %s first, want the allowed peer", text, from)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if s.Stats().Dropped != 1 {
			return errors.New("the stranger's packet was not counted as dropped")
		}
		return nil
	})

	// Narrowed: the permission pion holds for 127.0.0.2 no longer
	// carries anything.
	if err := s.AllowPeers("alice", []netip.Addr{netip.MustParseAddr("127.0.0.3")}); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.WriteTo([]byte("after"), allowed.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if s.Stats().Dropped != 2 {
			return errors.New("the packet to a peer no longer allowed was not dropped")
		}
		return nil
	})
	_ = allowed.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _, err := allowed.ReadFrom(make([]byte, 100)); err == nil {
		t.Fatalf("the peer no longer allowed still got %d bytes", n)
	}
}

// Credentials are refused from the second they expire.
func TestExpiredCredentialsAreRefused(t *testing.T) {
	clock := newFakeClock()
	s := newServer(t, Config{CredentialTTL: 10 * time.Minute, Now: clock.Now})
	creds := mustIssue(t, s, "alice")
	if got, want := creds.Expires, clock.Now().Add(10*time.Minute); got != want {
		t.Fatalf("expires %s, want %s", got, want)
	}
	allocate(t, s, creds) // valid now

	clock.Advance(10 * time.Minute)
	_, err := newClient(t, s, creds.Username, creds.Password).Allocate()
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("allocating with expired credentials: %v, want 401", err)
	}
	if st := s.Stats(); st.AuthRefused == 0 || st.AllocationsTotal != 1 {
		t.Fatalf("stats %+v: want a refusal and only the first allocation", st)
	}
}

// Anything but the exact credentials the server issued is refused.
// A live relay outlives its credentials while the member renews them:
// its refreshes and permissions, made with the credentials it started
// with, pass as long as newer ones were issued to the member; without the
// renewal they are refused, and a new allocation with old credentials is
// refused either way.
func TestRenewedCredentialsKeepLiveRelays(t *testing.T) {
	clock := newFakeClock()
	s := newServer(t, Config{CredentialTTL: time.Minute, Now: clock.Now})
	creds := mustIssue(t, s, "alice")
	if err := s.AllowPeers("alice", []netip.Addr{loopback}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s, creds.Username, creds.Password)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	bob, carol := peer(t, "127.0.0.1"), peer(t, "127.0.0.1")

	clock.Advance(2 * time.Minute) // expired, and not renewed
	if err := c.CreatePermission(bob.LocalAddr()); err == nil {
		t.Fatal("a permission with expired, unrenewed credentials was granted")
	}
	mustIssue(t, s, "alice") // the member renews
	if err := c.CreatePermission(carol.LocalAddr()); err != nil {
		t.Fatalf("a permission for a live relay after renewal: %v", err)
	}
	if _, err := relay.WriteTo([]byte("still here"), carol.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if text, _ := read(t, carol); text != "still here" {
		t.Fatalf("carol read %q", text)
	}
	if _, err := newClient(t, s, creds.Username, creds.Password).Allocate(); err == nil {
		t.Fatal("a new allocation with expired credentials was made")
	}
	if st := s.Stats(); st.RenewedUse == 0 {
		t.Fatalf("stats %+v: want requests accepted on renewed credentials", st)
	}
}

func TestForgedCredentialsAreRefused(t *testing.T) {
	s := newServer(t, Config{})
	alice := mustIssue(t, s, "alice")
	mustIssue(t, s, "mallory")
	expiry, _, _ := strings.Cut(alice.Username, ":")
	later := strings.Replace(alice.Username, expiry, expiry+"9", 1)
	otherServer := newServer(t, Config{})
	foreign := mustIssue(t, otherServer, "alice")
	revoked := mustIssue(t, s, "eve")
	s.Revoke("eve")

	cases := []struct{ name, user, pass string }{
		{"wrong password", alice.Username, alice.Password[:10] + "AAAA" + alice.Password[14:]},
		{"alice's password for mallory", strings.Replace(alice.Username, "alice", "mallory", 1), alice.Password},
		{"a later expiry", later, alice.Password},
		{"not the time-limited form", "alice", alice.Password},
		{"from another server", foreign.Username, foreign.Password},
		{"revoked", revoked.Username, revoked.Password},
		{"never issued", strings.Replace(alice.Username, "alice", "nobody", 1), alice.Password},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newClient(t, s, tc.user, tc.pass).Allocate()
			if err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("allocate: %v, want 401", err)
			}
			if got := s.Stats().AuthRefused; got < uint64(i+1) {
				t.Fatalf("%d refusals counted after %d forgeries", got, i+1)
			}
		})
	}
	if st := s.Stats(); st.AllocationsTotal != 0 {
		t.Fatalf("%d allocations made with forged credentials", st.AllocationsTotal)
	}
}

// Allocations are bounded per member and in all; a closed one frees its
// place.
func TestAllocationLimits(t *testing.T) {
	s := newServer(t, Config{MaxAllocationsPerUser: 2, MaxAllocations: 3, MaxPeersPerUser: 2})
	alice, bob := mustIssue(t, s, "alice"), mustIssue(t, s, "bob")
	first := allocate(t, s, alice)
	allocate(t, s, alice)
	if _, err := newClient(t, s, alice.Username, alice.Password).Allocate(); err == nil || !strings.Contains(err.Error(), "486") {
		t.Fatalf("alice's third relay: %v, want 486 (quota)", err)
	}
	allocate(t, s, bob)
	if _, err := newClient(t, s, bob.Username, bob.Password).Allocate(); err == nil || !strings.Contains(err.Error(), "486") {
		t.Fatalf("a fourth relay in all: %v, want 486 (quota)", err)
	}
	if st := s.Stats(); st.Allocations != 3 || st.QuotaRefused != 2 {
		t.Fatalf("stats %+v", st)
	}
	first.Close() // a refresh with lifetime 0: the allocation ends
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := s.Stats().Allocations; n != 2 {
			return errors.New("alice's closed relay is still counted")
		}
		return nil
	})
	allocate(t, s, bob)

	three := []netip.Addr{loopback, netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}
	if err := s.AllowPeers("alice", three); err == nil {
		t.Fatal("three peers accepted with a limit of two")
	}
	for _, bad := range []string{"", "a:b", strings.Repeat("x", MaxUserLen+1), "alice bob"} {
		if _, err := s.Issue(bad); err == nil {
			t.Errorf("Issue(%q) accepted", bad)
		}
	}
	if err := s.AllowPeers("alice", []netip.Addr{netip.MustParseAddr("224.0.0.1")}); err == nil {
		t.Error("a multicast peer accepted")
	}
}

// Revoking a member ends its relays now and refuses its credentials;
// issuing again lets it back.
func TestRevokeEndsRelays(t *testing.T) {
	s := newServer(t, Config{})
	creds := mustIssue(t, s, "alice")
	if err := s.AllowPeers("alice", []netip.Addr{loopback}); err != nil {
		t.Fatal(err)
	}
	relay := allocate(t, s, creds)
	bob := peer(t, "127.0.0.1")
	if _, err := relay.WriteTo([]byte("one"), bob.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	read(t, bob)

	s.Revoke("alice")
	testutil.Eventually(t, 5*time.Second, func() error {
		if s.Stats().Allocations != 0 {
			return errors.New("the revoked member's relay is still open")
		}
		return nil
	})
	if _, err := newClient(t, s, creds.Username, creds.Password).Allocate(); err == nil {
		t.Fatal("a revoked member allocated a relay")
	}
	allocate(t, s, mustIssue(t, s, "alice"))
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no listen address":     {},
		"IPv6":                  {Listen: netip.MustParseAddrPort("[::1]:0")},
		"every interface alone": {Listen: netip.MustParseAddrPort("0.0.0.0:0")},
		"ports upside down":     {Listen: netip.MustParseAddrPort("127.0.0.1:0"), RelayPortMin: 6000, RelayPortMax: 5000},
	} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

// The second port answers binding requests as the first does, so one
// server shows a member's mapping from two destinations; both are in
// STUNURLs, the first port first.
func TestSecondPortAnswersSTUN(t *testing.T) {
	s := newServer(t, Config{AltPort: -1})
	urls := s.STUNURLs()
	if len(urls) != 2 || !s.AltAddr().IsValid() || s.AltAddr().Port() == s.Addr().Port() {
		t.Fatalf("STUN URLs %v, second port %v: want two ports", urls, s.AltAddr())
	}
	var servers []netip.AddrPort
	for _, u := range urls {
		ap, err := natkind.ParseServer(u)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, ap)
	}
	if servers[0] != s.Addr() {
		t.Fatalf("first STUN URL %s, want the server's port %s", servers[0], s.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := natkind.Probe(ctx, servers, []netip.Addr{loopback})
	if err != nil || len(r.Mapped) != 2 || r.Kind != natkind.Public {
		t.Fatalf("probe of both ports: %v, %v (mapped %v); want both to answer, public", r.Kind, err, r.Mapped)
	}
}

// A second port that cannot be had leaves the server on its first.
func TestSecondPortTakenServesOnFirst(t *testing.T) {
	taken, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := newServer(t, Config{AltPort: taken.LocalAddr().(*net.UDPAddr).Port})
	if s.AltAddr().IsValid() || len(s.STUNURLs()) != 1 {
		t.Fatalf("second port %v, STUN URLs %v: want none, one", s.AltAddr(), s.STUNURLs())
	}
}

// A relay allocated through the second port is the member's like any
// other: its permissions to allowed peers are granted (the server knows
// the allocation by that port's address), so it carries packets.
func TestRelayThroughSecondPort(t *testing.T) {
	s := newServer(t, Config{AltPort: -1})
	creds := mustIssue(t, s, "alice")
	if err := s.AllowPeers("alice", []netip.Addr{loopback}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: s.AltAddr().String(), TURNServerAddr: s.AltAddr().String(),
		Username: creds.Username, Password: creds.Password, Conn: conn, RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close(); conn.Close() }()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate through the second port: %v", err)
	}
	defer relay.Close()
	bob := peer(t, "127.0.0.1")
	if _, err := relay.WriteTo([]byte("hello bob"), bob.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if text, _ := read(t, bob); text != "hello bob" {
		t.Fatalf("bob read %q through the second port's relay", text)
	}
}
