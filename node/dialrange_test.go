package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/clubnode/clubnode/node/home"
)

// A test node (LocalDialsOnly, set by the harness) asked to dial the
// always-on node's announced public address refuses in its gater, before
// any transport runs, so no packet leaves; the error names the address.
// Loopback still dials.
func TestLocalDialsOnlyRefusesAnnouncedAddress(t *testing.T) {
	a := startAlwaysOn(t)
	b, _ := startWith(t, "bob", func(*home.Config) {})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	public := ma.StringCast("/ip4/203.0.113.77/tcp/4001")
	err := b.p2p.Host().Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: []ma.Multiaddr{public}})
	if err == nil {
		t.Fatal("dialled 203.0.113.77")
	}
	if !errors.Is(err, swarm.ErrGaterDisallowedConnection) || !strings.Contains(err.Error(), "203.0.113.77") {
		t.Fatalf("dialling 203.0.113.77: %v; want the gater's refusal naming the address", err)
	}
	if err := b.p2p.Host().Connect(ctx, loopbackInfo(a)); err != nil {
		t.Fatalf("loopback refused too: %v", err)
	}
}
