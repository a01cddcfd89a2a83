package p2p

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/testutil"
)

// newPublicNode is newNode told it is reachable: it runs the relay
// service.
func newPublicNode(t *testing.T) *Node {
	t.Helper()
	key, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{
		Key:          key,
		ListenAddrs:  []string{"/ip4/127.0.0.1/tcp/0"},
		Ledger:       &memLedger{},
		Events:       &recorder{},
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		HelloTimeout: 2 * time.Second,
		NAT:          NATConfig{Reachability: ReachPublic},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// The relay service of a public node reserves slots for members only: an
// outsider's reservation is refused, a member's granted.
func TestRelayReservationsForMembersOnly(t *testing.T) {
	a := newPublicNode(t)
	found(t, a, "Night Owls")
	b := newNode(t)
	join(t, b, bearerInvite(t, a, 1))
	if b.Reachability() != ReachPrivate {
		t.Fatalf("a node on loopback only is %s, want private", b.Reachability())
	}
	relay := peer.AddrInfo{ID: a.ID(), Addrs: a.host.Addrs()}

	r := newRogue(t)
	if err := r.connect(a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := client.Reserve(ctx, b.host, relay)
		return err
	})
	if _, err := client.Reserve(ctx, r.h, relay); err == nil {
		t.Fatal("an outsider got a relay reservation")
	}
	// (AutoRelay takes only relays with public addresses, which loopback
	// is not: TestMembersBehindHomeRouters, in the netns lab, shows a
	// member behind NAT announcing its circuit address.)
}
