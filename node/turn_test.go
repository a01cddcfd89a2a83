package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
	"github.com/clubnode/clubnode/rooms"
)

// startAlwaysOn starts a public node announcing an address of the lab's
// documentation range (never dialled here), so it runs its TURN server.
func startAlwaysOn(t *testing.T, more ...func(*Config)) *Node {
	t.Helper()
	n, _ := startConfigured(t, "alwayson", func(c *home.Config) {
		c.Reachability = "public"
		c.PublicAddrs = []string{"/ip4/203.0.113.77/tcp/4001"}
		c.TURNPort = 0
	}, func(c *Config) {
		c.LabInternet = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		for _, f := range more {
			f(c)
		}
	})
	if n.turn == nil {
		t.Fatal("the public node runs no TURN server")
	}
	return n
}

// TURN credentials go to members only: an outsider connected to the
// always-on node is refused, a member gets credentials for the server's
// public address.
func TestTURNCredentialsForMembersOnly(t *testing.T) {
	ctx := context.Background()
	a := startAlwaysOn(t)
	if _, err := a.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	info := loopbackInfo(a)

	outsider, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outsider.Close() })
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := outsider.Connect(cctx, info); err != nil {
		t.Fatal(err)
	}
	if reply, err := turnProto.Call(cctx, outsider, a.ID(), turnRequest{Peers: []string{a.ID().String()}}); err == nil {
		t.Fatalf("an outsider got TURN credentials: %+v", reply)
	}

	b := joinOverLoopback(cctx, t, a, "bob")
	proof := linkProof(t, b, b.ID(), a.ID())
	testutil.Eventually(t, 10*time.Second, func() error {
		servers := b.linkICEServers(ctx, a.ID().String(), proof, nil)
		if len(servers) != 1 {
			return errNoServers
		}
		s := servers[0]
		if !strings.HasSuffix(s.Username, ":"+b.ID().String()) || s.Credential == "" ||
			!strings.Contains(strings.Join(s.URLs, " "), "turn:203.0.113.77:") {
			t.Fatalf("credentials %+v: want a username for Bob and the server's public address", s)
		}
		return nil
	})
	// Too many peers, or no peer at all, are refused.
	var many []string
	for range maxTURNPeers + 1 {
		many = append(many, b.ID().String())
	}
	for _, peers := range [][]string{nil, many, {"not-a-peer-id"}} {
		if _, err := turnProto.Call(ctx, b.p2p.MemberHost(), a.ID(), turnRequest{Peers: peers, Assignment: proof}); err == nil {
			t.Fatalf("a request naming %d peers was answered", len(peers))
		}
	}
}

// loopbackInfo is how to reach always-on node a on loopback only: it also
// announces its public address, which exists nowhere here and must not
// be dialled.
func loopbackInfo(a *Node) peer.AddrInfo {
	info := peer.AddrInfo{ID: a.ID()}
	for _, addr := range a.p2p.Host().Addrs() {
		if manet.IsIPLoopback(addr) {
			info.Addrs = append(info.Addrs, addr)
		}
	}
	return info
}

// joinOverLoopback starts a node called name and has it join a's network
// with a fresh invite. The token names only a's public address, which
// exists nowhere here: the newcomer reaches a on loopback first and
// redeems on that connection instead of dialling the token's address.
func joinOverLoopback(ctx context.Context, t *testing.T, a *Node, name string) *Node {
	t.Helper()
	m, _ := startWith(t, name, func(*home.Config) {})
	joinNodeOverLoopback(ctx, t, a, m)
	return m
}

// joinNodeOverLoopback has node m join a's network, as joinOverLoopback.
func joinNodeOverLoopback(ctx context.Context, t *testing.T, a, m *Node) {
	t.Helper()
	inv, err := a.CreateInvite(ctx, apiv1.CreateInviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.p2p.Host().Connect(ctx, loopbackInfo(a)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Join(ctx, apiv1.JoinRequest{Token: inv.Token}); err != nil {
		t.Fatal(err)
	}
}

// joinAlwaysOn makes a network on always-on node a and has one member per
// name join it over loopback; it returns the members.
func joinAlwaysOn(t *testing.T, a *Node, names ...string) []*Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	var members []*Node
	for _, name := range names {
		members = append(members, joinOverLoopback(ctx, t, a, name))
	}
	return members
}

// Attack: a member asks the always-on node to let its TURN relay reach a
// member it has no link with. Before links had to be proven, naming any
// member was enough. Now the request must show a host-signed assignment
// that puts the requester and every peer it names at the two ends of one
// link, and anything else is refused.
func TestTURNOnlyToLinkedPeers(t *testing.T) {
	ctx := context.Background()
	a := startAlwaysOn(t)
	ms := joinAlwaysOn(t, a, "bob", "carol", "dave")
	bob, carol, dave := ms[0], ms[1], ms[2]
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, m := range ms {
			if !a.p2p.IsMember(m.ID()) {
				return errorString("the always-on node does not know every member yet")
			}
		}
		return nil
	})
	ask := func(peers []peer.ID, proof []byte) error {
		var names []string
		for _, p := range peers {
			names = append(names, p.String())
		}
		_, err := turnProto.Call(ctx, bob.p2p.MemberHost(), a.ID(), turnRequest{Peers: names, Assignment: proof})
		return err
	}
	// The honest request: Bob's link to Dave, placed by Dave's room.
	honest := linkProof(t, dave, bob.ID(), dave.ID())
	if err := ask([]peer.ID{dave.ID()}, honest); err != nil {
		t.Fatalf("a member asking for its own link was refused: %v", err)
	}
	outsiderKey, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	room, _ := rooms.NewRoomID()
	old, err := rooms.Assign(dave.key, room, bob.ID(), dave.ID(), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	byOutsider, err := rooms.Assign(outsiderKey, room, bob.ID(), carol.ID(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what  string
		peers []peer.ID
		proof []byte
	}{
		{"no assignment at all", []peer.ID{carol.ID()}, nil},
		{"Carol, with the assignment of Bob's link to Dave", []peer.ID{carol.ID()}, linkProof(t, dave, bob.ID(), dave.ID())},
		{"Dave and Carol, with the assignment of Bob's link to Dave", []peer.ID{dave.ID(), carol.ID()}, linkProof(t, dave, bob.ID(), dave.ID())},
		{"Carol, with an assignment of Dave under Carol (Bob at neither end)", []peer.ID{carol.ID()}, linkProof(t, carol, dave.ID(), carol.ID())},
		{"Dave, with an assignment that expired", []peer.ID{dave.ID()}, old.Bytes},
		{"Carol, with an assignment signed by a non-member", []peer.ID{carol.ID()}, byOutsider.Bytes},
		{"Carol, with garbage for an assignment", []peer.ID{carol.ID()}, []byte("not an assignment")},
	} {
		if err := ask(c.peers, c.proof); err == nil {
			t.Errorf("Bob asking for %s got credentials", c.what)
		} else if !errors.Is(err, rpc.ErrRefused) {
			t.Errorf("Bob asking for %s: %v, want a refusal", c.what, err)
		}
	}
	// What the relay may reach is only what was proven, and by both
	// ends (TestTURNNeedsBothEndsOfTheLink): Dave asks too.
	if allowed := a.turn.mayReach(bob.ID()); len(allowed) != 0 {
		t.Fatalf("Bob's relays may reach %v before Dave asked", allowed)
	}
	if _, err := turnProto.Call(ctx, dave.p2p.MemberHost(), a.ID(), turnRequest{Peers: []string{bob.ID().String()},
		Assignment: honest}); err != nil {
		t.Fatalf("the other end of the link was refused: %v", err)
	}
	if allowed := a.turn.mayReach(bob.ID()); !slices.Equal(allowed, []peer.ID{dave.ID()}) {
		t.Fatalf("Bob's relays may reach %v, want only Dave", allowed)
	}
}

// Attack: a member hosts a room of its own and signs assignments that
// put a victim at the other end of a link with itself, to open its TURN
// relay towards the victim's addresses. The signature is a member's and
// the requester is one end, so before, that was enough. Now the victim
// must have asked the same node with the same assignment, which it never
// does for one it did not accept; the honest link of the victim with
// Carol, both ends asking, is allowed.
func TestTURNNeedsBothEndsOfTheLink(t *testing.T) {
	a := startAlwaysOn(t)
	ms := joinAlwaysOn(t, a, "mallory", "victim", "carol")
	mallory, victim, carol := ms[0], ms[1], ms[2]
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, m := range ms {
			if !a.p2p.IsMember(m.ID()) {
				return errorString("the always-on node does not know every member yet")
			}
		}
		return nil
	})
	ask := func(from *Node, to peer.ID, proof []byte) {
		t.Helper()
		_, err := turnProto.Call(context.Background(), from.p2p.MemberHost(), a.ID(),
			turnRequest{Peers: []string{to.String()}, Assignment: proof})
		if err != nil {
			t.Fatalf("one end of a link with a member's assignment got no credentials: %v", err)
		}
	}
	honest := linkProof(t, carol, victim.ID(), carol.ID())
	ask(victim, carol.ID(), honest)
	ask(mallory, victim.ID(), linkProof(t, mallory, mallory.ID(), victim.ID()))
	ask(mallory, victim.ID(), linkProof(t, mallory, victim.ID(), mallory.ID()))
	ask(carol, victim.ID(), honest)
	if allowed := a.turn.mayReach(mallory.ID()); slices.Contains(allowed, victim.ID()) {
		t.Fatalf("Mallory's relays may reach the victim (they may reach %v)", allowed)
	}
	if v, c := a.turn.mayReach(victim.ID()), a.turn.mayReach(carol.ID()); !slices.Equal(v, []peer.ID{carol.ID()}) ||
		!slices.Equal(c, []peer.ID{victim.ID()}) {
		t.Fatalf("the honest link: the victim may reach %v, Carol %v; want each other", v, c)
	}
}

// mayReach lists the peers whose addresses p's relays may reach.
func (t *turnService) mayReach(p peer.ID) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.peers[p])
}

// TURN credentials are renewed before they expire while the node has live
// links (here: said to have, by the hook), and forgotten when it has none.
// The credentials last 2 s, so renewals come every 1.5 s.
func TestTURNCredentialsRenewedForLiveLinks(t *testing.T) {
	ctx := context.Background()
	a := startAlwaysOn(t, func(c *Config) { c.TURNCredentialTTL = 2 * time.Second })
	ms := joinAlwaysOn(t, a, "bob", "carol")
	bob, carol := ms[0], ms[1]
	var live atomic.Bool
	live.Store(true)
	bob.turnRenew.mu.Lock()
	bob.turnRenew.live = live.Load
	bob.turnRenew.mu.Unlock()
	proof := linkProof(t, bob, bob.ID(), a.ID())
	var first time.Time
	testutil.Eventually(t, 10*time.Second, func() error {
		if len(bob.linkICEServers(ctx, a.ID().String(), proof, nil)) == 0 {
			return errNoServers
		}
		first = bob.turnGrant(a.ID()).expires
		return nil
	})
	// Two renewals, each past the credentials before it.
	testutil.Eventually(t, 10*time.Second, func() error {
		if g, n := bob.turnGrant(a.ID()), bob.turnRenewals(); n < 2 || !g.expires.After(first) {
			return fmt.Errorf("%d renewals, credentials until %s (first until %s)", n, g.expires, first)
		}
		return nil
	})
	// No live link: the credentials are let go at their next renewal.
	live.Store(false)
	testutil.Eventually(t, 10*time.Second, func() error {
		if g := bob.turnGrant(a.ID()); !g.expires.IsZero() {
			return fmt.Errorf("still renewing: credentials until %s", g.expires)
		}
		return nil
	})
	// A renewal for a member that never had credentials is refused.
	if _, err := turnProto.Call(ctx, carol.p2p.MemberHost(), a.ID(), turnRequest{Renew: true}); !errors.Is(err, rpc.ErrRefused) {
		t.Fatalf("renewing credentials never issued: %v, want a refusal", err)
	}
}

func (n *Node) turnGrant(server peer.ID) turnGrant {
	n.turnRenew.mu.Lock()
	defer n.turnRenew.mu.Unlock()
	return n.turnRenew.creds[server]
}

func (n *Node) turnRenewals() int {
	n.turnRenew.mu.Lock()
	defer n.turnRenew.mu.Unlock()
	return n.turnRenew.renews
}

// linkProof is an assignment, signed by host (a member), of child under
// parent in a room of its own.
func linkProof(t *testing.T, host *Node, child, parent peer.ID) []byte {
	t.Helper()
	room, err := rooms.NewRoomID()
	if err != nil {
		t.Fatal(err)
	}
	a, err := rooms.Assign(host.key, room, child, parent, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a.Bytes
}

var errNoServers = errorString("Bob gets no TURN server yet")

type errorString string

func (e errorString) Error() string { return string(e) }

// An ask waits for the other end only as long as its assignment holds,
// and a member's waiting asks are bounded: a member signing assignments
// of its own by the thousand keeps only the newest maxTURNClaims.
func TestTURNClaimsExpireAndAreBounded(t *testing.T) {
	self, p, q := peer.ID("self"), peer.ID("p"), peer.ID("q")
	now := time.Now()
	s := &turnService{peers: map[peer.ID][]peer.ID{}, claims: map[peer.ID][]turnClaim{}}
	s.pair(self, p, []peer.ID{q}, []byte("A"), now.Add(time.Minute), now)
	later := now.Add(time.Minute + identity.ClockSkew)
	if got := s.pair(self, q, []peer.ID{p}, []byte("A"), later.Add(time.Minute), later); len(got) != 0 {
		t.Fatalf("an ask whose assignment expired was paired: %v", got)
	}
	if got := s.pair(self, q, []peer.ID{p}, []byte("B"), now.Add(time.Minute), now); len(got) != 0 {
		t.Fatalf("asks with different assignments were paired: %v", got)
	}
	if got := s.pair(self, p, []peer.ID{self}, []byte("C"), now.Add(time.Minute), now); !slices.Equal(got[p], []peer.ID{self}) {
		t.Fatalf("the TURN node itself named as the other end: %v", got)
	}
	for i := range 3 * maxTURNClaims {
		s.pair(self, p, []peer.ID{q}, fmt.Appendf(nil, "forged %d", i), now.Add(time.Minute), now)
	}
	if n := len(s.claims[p]); n != maxTURNClaims {
		t.Fatalf("%d waiting asks kept, want %d", n, maxTURNClaims)
	}
	if got := s.pair(self, q, []peer.ID{p}, fmt.Appendf(nil, "forged %d", 3*maxTURNClaims-1), now.Add(time.Minute), now); !slices.Equal(got[q], []peer.ID{p}) ||
		!slices.Equal(got[p], []peer.ID{q}) {
		t.Fatalf("the newest waiting ask was not paired: %v", got)
	}
}

// A child asks for TURN the always-on nodes it knows to serve TURN; its
// parent must ask the same ones with the same assignment, or their
// servers let neither relay reach the other. Here Bob, the child, asks
// the always-on nodes A and B; Carol, the host and his parent, would
// pick A alone: she does not know that B serves TURN (her peerstore
// lists no TURN protocol for it; a parent not connected to B, the case
// in the field, leaves B out of her own pick just the same, but here on
// one machine the DHT connects Carol and B at moments of its own). Bob
// names A and B in the link hello and Carol asks both. Before, she asked
// A alone, and B's relay stayed closed for Bob's link.
func TestParentAsksTheChildsTURNServers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := startAlwaysOn(t)
	ms := joinAlwaysOn(t, a, "bob", "carol")
	bob, carol := ms[0], ms[1]
	b := startAlwaysOn(t)
	joinNodeOverLoopback(ctx, t, a, b)
	for _, m := range ms {
		if err := m.p2p.Host().Connect(ctx, loopbackInfo(b)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := bob.turnServers(); len(got) != 2 || !b.p2p.IsMember(bob.ID()) || !b.p2p.IsMember(carol.ID()) {
			return fmt.Errorf("Bob would ask %v for TURN; want A and B, each knowing both members", got)
		}
		if got := carol.turnServers(); len(got) != 2 {
			return fmt.Errorf("Carol sees %v serving TURN, want A and B", got)
		}
		return nil
	})
	if err := carol.p2p.Host().Peerstore().RemoveProtocols(b.ID(), TURNProtocol); err != nil {
		t.Fatal(err)
	}
	if got := carol.turnServers(); !slices.Equal(got, []peer.ID{a.ID()}) {
		t.Fatalf("Carol would pick %v for TURN herself, want A alone", got)
	}
	room, err := carol.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Two always-on nodes"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := bob.RoomAction(ctx, room.ID, apiv1.ActionJoin, apiv1.RoomActionRequest{})
		return err
	})
	// Both ends ask every server of theirs at once for the link: once A
	// paired them, B must have too (a little later at most), not on some
	// later attempt at the link after B's protocols reached Carol again.
	testutil.Eventually(t, 15*time.Second, func() error { return pairedAt(a, "A", bob, carol) })
	testutil.Eventually(t, 2*time.Second, func() error { return pairedAt(b, "B", bob, carol) })
}

// pairedAt says whether always-on node s lets the relays of child and
// parent reach each other, and only each other: both ends asked it.
func pairedAt(s *Node, name string, child, parent *Node) error {
	if got := s.turn.mayReach(child.ID()); !slices.Equal(got, []peer.ID{parent.ID()}) {
		return fmt.Errorf("%s lets the child's relays reach %v, want the parent: both ends asked it", name, got)
	}
	if got := s.turn.mayReach(parent.ID()); !slices.Equal(got, []peer.ID{child.ID()}) {
		return fmt.Errorf("%s lets the parent's relays reach %v, want the child", name, got)
	}
	return nil
}
