package node

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// startAlwaysOn starts a public node announcing an address of the lab's
// documentation range (never dialled here), so it runs its TURN server.
func startAlwaysOn(t *testing.T) *Node {
	t.Helper()
	n, _ := startConfigured(t, "alwayson", func(c *home.Config) {
		c.Reachability = "public"
		c.PublicAddrs = []string{"/ip4/203.0.113.77/tcp/4001"}
		c.TURNPort = 0
	}, func(c *Config) { c.LabInternet = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")} })
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
	// Loopback only: the node also announces its public address, which
	// exists nowhere here and must not be dialled.
	info := peer.AddrInfo{ID: a.ID()}
	for _, addr := range a.p2p.Host().Addrs() {
		if manet.IsIPLoopback(addr) {
			info.Addrs = append(info.Addrs, addr)
		}
	}

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

	b, _ := startWith(t, "bob", func(*home.Config) {})
	inv, err := a.CreateInvite(ctx, apiv1.CreateInviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The token names only the public address, which exists nowhere here:
	// Bob reaches the node on loopback first, and redeems on that
	// connection instead of dialling the token's address.
	if err := b.p2p.Host().Connect(cctx, info); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, apiv1.JoinRequest{Token: inv.Token}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		servers := b.linkICEServers(ctx, a.ID().String())
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
		if _, err := turnProto.Call(ctx, b.p2p.MemberHost(), a.ID(), turnRequest{Peers: peers}); err == nil {
			t.Fatalf("a request naming %d peers was answered", len(peers))
		}
	}
}

var errNoServers = errorString("Bob gets no TURN server yet")

type errorString string

func (e errorString) Error() string { return string(e) }
