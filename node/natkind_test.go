package node

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/natkind"
	"github.com/clubnode/clubnode/internal/testutil"
)

// An always-on node tells members, and only members, where its STUN
// server is (for their NAT test), and gives no credentials with it.
func TestSTUNServerAddressForMembersOnly(t *testing.T) {
	a := startAlwaysOn(t)
	b := joinAlwaysOn(t, a, "bob")[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	outsider, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outsider.Close() })
	if err := outsider.Connect(ctx, loopbackInfo(a)); err != nil {
		t.Fatal(err)
	}
	if reply, err := turnProto.Call(ctx, outsider, a.ID(), turnRequest{Servers: true}); err == nil {
		t.Fatalf("an outsider learnt the STUN server: %+v", reply)
	}

	reply, err := turnProto.Call(ctx, b.p2p.MemberHost(), a.ID(), turnRequest{Servers: true})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Username != "" || reply.Password != "" || len(reply.URLs) == 0 {
		t.Fatalf("reply %+v: want the URLs and no credentials", reply)
	}
	var stun []netip.AddrPort // both ports, then the TURN URL of the first
	for _, u := range reply.URLs {
		ap, err := natkind.ParseServer(u)
		if err != nil {
			t.Errorf("the server's own URL does not parse: %v", err)
		}
		stun = append(stun, ap)
	}
	if len(stun) != 3 || stun[0].Addr() != stun[1].Addr() || stun[0].Port() == stun[1].Port() || stun[2] != stun[0] {
		t.Errorf("STUN addresses %v from %q: want two ports of one server, then its TURN URL", stun, reply.URLs)
	}
	if _, err := turnProto.Call(ctx, b.p2p.MemberHost(), a.ID(),
		turnRequest{Servers: true, Peers: []string{a.ID().String()}}); err == nil {
		t.Fatal("asking where the server is while naming a peer was answered")
	}
	if got := a.nat.kind(); got != natkind.Public {
		t.Errorf("the public node reports %s, want public", got)
	}
}

// Attack: a member announces the TURN protocol and answers credentials
// requests with URLs on which pion/stun's ParseURI spins for ever. Bob's
// links take the real always-on node's server and drop the other's
// answer; before, its URLs went to pion as they came.
func TestBadTURNURLsAreDropped(t *testing.T) {
	a := startAlwaysOn(t)
	ms := joinAlwaysOn(t, a, "bob", "mallory")
	bob, mallory := ms[0], ms[1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	turnProto.Handle(ctx, mallory.p2p.MemberHost(), func(context.Context, peer.ID, turnRequest) (turnReply, error) {
		return turnReply{URLs: []string{"stun:[:]3", "turn:[:]3?transport=udp", "turns:203.0.113.9:5349"},
			Username: "u", Password: "p", Expires: time.Now().Add(time.Hour).Unix()}, nil
	})
	t.Cleanup(func() { turnProto.Remove(mallory.p2p.MemberHost()) })
	proof := linkProof(t, bob, bob.ID(), a.ID())
	testutil.Eventually(t, 10*time.Second, func() error {
		if ok, _ := bob.p2p.Host().Peerstore().SupportsProtocols(mallory.ID(), TURNProtocol); len(ok) == 0 ||
			!slices.Contains(bob.p2p.VerifiedPeers(), mallory.ID()) {
			return errors.New("Bob does not see Mallory's TURN protocol yet")
		}
		return nil
	})
	servers := bob.linkICEServers(ctx, a.ID().String(), proof, nil)
	if len(servers) != 1 {
		t.Fatalf("Bob takes %d ICE servers (%+v), want the always-on node's alone", len(servers), servers)
	}
	for _, u := range servers[0].URLs {
		if _, err := natkind.ParseServer(u); err != nil {
			t.Errorf("a URL pion would be given: %v", err)
		}
	}
}
