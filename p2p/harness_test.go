package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv(loopbackPublicEnv) != "" {
		loopbackIsInternet()
	}
	goleak.VerifyTestMain(m,
		// libp2p and quic-go keep package-level workers alive for the process.
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
	)
}

// memLedger is the test's invite ledger: the node's real one lives on disk.
type memLedger struct {
	mu   sync.Mutex
	uses map[string][]peer.ID
}

func (l *memLedger) UseInvite(inv *identity.SignedInvite, redeemer peer.ID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.uses == nil {
		l.uses = map[string][]peer.ID{}
	}
	used := l.uses[inv.ID()]
	for _, p := range used {
		if p == redeemer {
			return nil
		}
	}
	if len(used) >= inv.Uses {
		return fmt.Errorf("invite token already used %d of %d times", len(used), inv.Uses)
	}
	l.uses[inv.ID()] = append(used, redeemer)
	return nil
}

func (l *memLedger) InviteUsesLeft(inv *identity.SignedInvite, redeemer peer.ID) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.uses[inv.ID()] {
		if p == redeemer {
			return 1, nil
		}
	}
	return inv.Uses - len(l.uses[inv.ID()]), nil
}

type recorder struct {
	mu       sync.Mutex
	seen     map[peer.ID]Member
	profiles map[peer.ID]int // profiles accepted, per member
	revs     []*identity.SignedRevocation
}

func (r *recorder) MemberSeen(m Member, _ []ma.Multiaddr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen, r.profiles = map[peer.ID]Member{}, map[peer.ID]int{}
	}
	if m.Profile != nil {
		r.profiles[m.Chain.Member()]++
	}
	r.seen[m.Chain.Member()] = m
}

func (r *recorder) RevocationReceived(rev *identity.SignedRevocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revs = append(r.revs, rev)
}

func newNode(t *testing.T) *Node {
	t.Helper()
	return newNodeWith(t, nil)
}

// newNodeWith is newNode with its Config changed by edit first.
func newNodeWith(t testing.TB, edit func(*Config)) *Node {
	t.Helper()
	key, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	level := slog.LevelWarn
	if os.Getenv("CLUBNODE_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	cfg := Config{
		Key:               key,
		ListenAddrs:       []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Ledger:            &memLedger{},
		Events:            &recorder{},
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		HelloTimeout:      2 * time.Second,
		DiscoveryInterval: time.Second,
		SyncInterval:      2 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// found makes n the founder of a new network.
func found(t *testing.T, n *Node, name string) *identity.Chain {
	t.Helper()
	charter, err := identity.FoundNetwork(n.cfg.Key, name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	chain := identity.FounderChain(charter)
	if err := n.Enter(NetworkState{Chain: chain}); err != nil {
		t.Fatal(err)
	}
	return chain
}

func bearerInvite(t *testing.T, inviter *Node, uses int) *identity.SignedInvite {
	t.Helper()
	var boot []string
	for _, a := range inviter.Addrs() {
		boot = append(boot, a.String())
	}
	inv, err := identity.NewInvite(inviter.cfg.Key, inviter.Chain(), identity.InviteOptions{
		Uses: uses, Expires: time.Now().Add(time.Hour), Bootstrap: boot}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// join redeems a bearer invite and enters the network, as the node does.
func join(t *testing.T, n *Node, inv *identity.SignedInvite) {
	t.Helper()
	joinNamed(t, n, inv, "")
}

// joinNamed is join with a profile of that name, if name is set.
func joinNamed(t *testing.T, n *Node, inv *identity.SignedInvite, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	chain, err := n.Redeem(ctx, inv)
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	state := NetworkState{Chain: chain, KnownPeers: BootstrapAddrs(inv)}
	if name != "" {
		if state.Profile, err = identity.SignProfile(n.cfg.Key, identity.Profile{Network: chain.Network(), Peer: n.ID(), Name: name, Updated: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Enter(state); err != nil {
		t.Fatal(err)
	}
}

func knowsMembers(n *Node, want ...peer.ID) func() error {
	return func() error {
		have := map[peer.ID]bool{}
		for _, m := range n.Members() {
			have[m.Chain.Member()] = true
		}
		for _, p := range want {
			if !have[p] {
				return fmt.Errorf("%s does not know member %s (knows %d)", n.ID(), p, len(have))
			}
		}
		return nil
	}
}

func notConnected(n *Node, p peer.ID) func() error {
	return func() error {
		if len(n.host.Network().ConnsToPeer(p)) > 0 {
			return errors.New("still connected")
		}
		return nil
	}
}

// meshed waits until a's membership topic lists b as a subscriber, so a
// message a publishes once reaches b: a verified connection alone does
// not say that pubsub has exchanged subscriptions yet, and a revocation
// published before that misses b until they meet again.
func meshed(t *testing.T, a, b *Node) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		st, err := a.state()
		if err != nil {
			return err
		}
		if !slices.Contains(st.topic.ListPeers(), b.ID()) {
			return fmt.Errorf("%s does not list %s on %s yet", a.ID(), b.ID(), st.topic.String())
		}
		return nil
	})
}
