package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/internal/wire"
)

// A revocation that gossip did not carry to a member still reaches it,
// by the periodic members sync. A applies the revocation of D without
// publishing it, as when it was gossiped before C's subscription had
// reached A, and only after C's hello sync from A is past its
// revocations (C knows D, which only A's sync tells it of: D went
// offline before C joined). Before, that sync was C's only one and C
// trusted D for good.
func TestRevocationGossipMissedArrivesBySync(t *testing.T) {
	a, c, d := newNode(t), newNode(t), newNode(t)
	found(t, a, "Night Owls")
	join(t, d, bearerInvite(t, a, 1))
	testutil.Eventually(t, 15*time.Second, knowsMembers(a, d.ID()))
	m, _ := a.Member(d.ID())
	d.Close()
	join(t, c, bearerInvite(t, a, 1))
	testutil.Eventually(t, 15*time.Second, knowsMembers(c, d.ID()))

	rev, err := identity.Revoke(a.cfg.Key, m.Chain, false, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.applyRevocation(rev); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		if _, ok := c.Revocations().Get(d.ID()); !ok {
			return errors.New("C has not heard of D's revocation")
		}
		return nil
	})
}

// A sync skips only what a node holds byte for byte: a held chain with a
// new profile, any revocation, or a chain that differs is checked.
func TestHeldSetHolds(t *testing.T) {
	h := heldSet{"chain-a": []byte("profile-a"), "chain-b": nil}
	cases := []struct {
		name string
		held heldSet
		e    memberEntry
		want bool
	}{
		{"held chain, held profile", h, memberEntry{V: 1, Chain: []byte("chain-a"), Profile: []byte("profile-a")}, true},
		{"held chain, no profile", h, memberEntry{V: 1, Chain: []byte("chain-a")}, true},
		{"held chain, new profile", h, memberEntry{V: 1, Chain: []byte("chain-a"), Profile: []byte("profile-a2")}, false},
		{"held chain without a profile, a profile now", h, memberEntry{V: 1, Chain: []byte("chain-b"), Profile: []byte("p")}, false},
		{"revocation", h, memberEntry{V: 1, Chain: []byte("chain-a"), Revocation: []byte("r")}, false},
		{"another chain", h, memberEntry{V: 1, Chain: []byte("chain-a'")}, false},
		{"not a member yet", nil, memberEntry{V: 1, Chain: []byte("chain-a")}, false},
	}
	for _, tc := range cases {
		if got := tc.held.holds(tc.e); got != tc.want {
			t.Errorf("%s: holds = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A members sync between nodes that hold the same membership carries no
// entry: before digests every sync sent every member, each reconnect and
// each periodic sync of a formed network. A peer that speaks only the
// sync before digests still gets everything, and so does a node that
// holds less.
func TestSyncBetweenEqualsCarriesNothing(t *testing.T) {
	a, b, c := threeMembers(t)
	testutil.Eventually(t, 15*time.Second, func() error {
		if !bytes.Equal(a.membershipDigest(), b.membershipDigest()) || !bytes.Equal(a.membershipDigest(), c.membershipDigest()) {
			return errors.New("A, B and C do not hold the same membership yet")
		}
		if !a.isVerified(c.ID()) || !c.isVerified(a.ID()) {
			return errors.New("A and C have not said hello yet")
		}
		return nil
	})
	if got := syncedEntries(t, b, a, syncProto, syncRequest{Digest: b.membershipDigest()}); got != 0 {
		t.Errorf("a sync between nodes that hold the same carried %d entries", got)
	}

	whole := syncProto
	whole.ID, whole.Older = syncWholeProtocol, nil
	if got := syncedEntries(t, b, a, whole, syncRequest{}); got < 3 {
		t.Errorf("a sync in version %s carried %d entries, want the 3 members", syncWholeProtocol, got)
	}

	// C forgets B, as if B's announcement had not reached it.
	c.mu.Lock()
	delete(c.net.members, b.ID())
	c.mu.Unlock()
	if got := syncedEntries(t, c, a, syncProto, syncRequest{Digest: c.membershipDigest()}); got < 3 {
		t.Errorf("a sync to a node that holds less carried %d entries, want the 3 members", got)
	}

	// A answers only the sync before digests, whose strict decoding
	// refuses a field it does not know: C asks it in that version.
	a.host.RemoveStreamHandler(SyncProtocol)
	old := rpc.Protocol[struct{}, struct{}]{ID: syncWholeProtocol, MaxRequest: 64, MaxReply: 64}
	old.HandleSession(a.ctx, a.gated, func(context.Context, peer.ID, struct{}) (struct{}, func(context.Context, network.Stream), error) {
		st, err := a.state()
		return struct{}{}, func(_ context.Context, s network.Stream) { a.sendMembers(st, s) }, err
	})
	// Identify tells C that A no longer speaks 1.1.0, as an older node
	// never said it did.
	testutil.Eventually(t, 15*time.Second, func() error {
		if ids, _ := c.host.Peerstore().SupportsProtocols(a.ID(), SyncProtocol); len(ids) > 0 {
			return fmt.Errorf("C still thinks A speaks %s", SyncProtocol)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.syncFrom(ctx, a.ID()); err != nil {
		t.Fatalf("members sync from a node that speaks only %s: %v", syncWholeProtocol, err)
	}
	if !c.IsMember(b.ID()) {
		t.Errorf("a members sync in %s did not bring back the member C had forgotten", syncWholeProtocol)
	}
}

// syncedEntries pulls a members sync with req from `from` to `by` and
// counts the entries that came.
func syncedEntries(t *testing.T, by, from *Node, proto rpc.Protocol[syncRequest, struct{}], req syncRequest) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, s, err := proto.Open(ctx, by.gated, from.ID(), req)
	if err != nil {
		t.Fatalf("members sync: %v", err)
	}
	defer s.Close()
	r := wire.NewReader(s, MaxGossipMessage)
	for n := 0; ; n++ {
		var e memberEntry
		err := r.ReadFrame(&e)
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("members sync, entry %d: %v", n+1, err)
		}
	}
}

// BenchmarkMembersSync is one members sync between two nodes that hold
// the same membership of 100 or 1000 members: in the version before
// digests (everything is sent and compared with what is held) and with
// them.
func BenchmarkMembersSync(b *testing.B) {
	for _, size := range []int{100, 1000} {
		a, c := sameMembership(b, size)
		whole := syncProto
		whole.ID, whole.Older = syncWholeProtocol, nil
		for _, v := range []struct {
			name  string
			proto rpc.Protocol[syncRequest, struct{}]
		}{{"whole", whole}, {"digest", syncProto}} {
			b.Run(fmt.Sprintf("members=%d/%s", size, v.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := c.syncWith(context.Background(), a.ID(), v.proto); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// sameMembership is a founder A and a member C, connected, that both hold
// the same size members (A, C and invitees of A that are not running).
func sameMembership(b *testing.B, size int) (a, c *Node) {
	b.Helper()
	now := time.Now()
	a = newNodeWith(b, nil)
	charter, err := identity.FoundNetwork(a.cfg.Key, "Night Owls", now)
	if err != nil {
		b.Fatal(err)
	}
	founder := identity.FounderChain(charter)
	invitee := func(id peer.ID) *identity.Chain {
		cert, err := identity.IssueCert(a.cfg.Key, founder, id, now)
		if err != nil {
			b.Fatal(err)
		}
		chain, err := founder.Extend(cert)
		if err != nil {
			b.Fatal(err)
		}
		return chain
	}
	c = newNodeWith(b, nil)
	cChain := invitee(c.ID())
	members := []Member{{Chain: founder}, {Chain: cChain}}
	for len(members) < size {
		key, err := identity.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		members = append(members, Member{Chain: invitee(mustID(b, key))})
	}
	if err := a.Enter(NetworkState{Chain: founder, Members: members}); err != nil {
		b.Fatal(err)
	}
	if err := c.Enter(NetworkState{Chain: cChain, Members: members,
		KnownPeers: []peer.AddrInfo{{ID: a.ID(), Addrs: a.Addrs()}}}); err != nil {
		b.Fatal(err)
	}
	testutil.Eventually(b, 15*time.Second, func() error {
		if !c.isVerified(a.ID()) || !bytes.Equal(a.membershipDigest(), c.membershipDigest()) {
			return errors.New("C has not said hello to A yet")
		}
		return nil
	})
	return a, c
}
