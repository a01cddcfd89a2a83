package node

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// startTestNode starts a node on loopback with an in-memory datastore
// holding a fresh identity.
func startTestNode(tb testing.TB, name string) *Node {
	tb.Helper()
	return startTestNodeAt(tb, name, filepath.Join(tb.TempDir(), name))
}

// startTestNodeAt is startTestNode with its home in dir (which may hold a
// config file already).
// foundWithMember has founder found a network and member join it with an
// invite for one use.
func foundWithMember(ctx context.Context, t testing.TB, founder, member *Node) {
	t.Helper()
	if _, err := founder.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	inv, err := founder.CreateInvite(ctx, apiv1.CreateInviteRequest{Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := member.Join(ctx, apiv1.JoinRequest{Token: inv.Token}); err != nil {
		t.Fatal(err)
	}
}

func startTestNodeAt(tb testing.TB, name, dir string) *Node {
	tb.Helper()
	d := dssync.MutexWrap(ds.NewMapDatastore())
	st := &store{ds: d, log: slog.Default()}
	key, err := identity.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if err := st.setNodeKey(ctx, key); err != nil {
		tb.Fatal(err)
	}
	if err := st.setSelfInfo(ctx, selfInfo{Name: name}); err != nil {
		tb.Fatal(err)
	}
	settings := home.DefaultConfig()
	settings.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	settings.APIAddr = "127.0.0.1:0"
	settings.MDNS = false
	n, err := Start(Config{Home: home.Home{Dir: dir}, Settings: settings,
		Datastore: d, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Close() })
	return n
}

// BenchmarkJoin measures Join with a bearer token on loopback: parse and
// check the token, connect to the inviter, redeem (the inviter counts the
// use and issues the certificate), store the chain and enter the network.
func BenchmarkJoin(b *testing.B) {
	ctx := context.Background()
	founder := startTestNode(b, "founder")
	if _, err := founder.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Bench"}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		inv, err := founder.CreateInvite(ctx, apiv1.CreateInviteRequest{Uses: 1, ExpiresSeconds: 3600})
		if err != nil {
			b.Fatal(err)
		}
		joiner := startTestNode(b, "joiner")
		b.StartTimer()
		if _, err := joiner.Join(ctx, apiv1.JoinRequest{Token: inv.Token}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		joiner.Close()
		b.StartTimer()
	}
}

// TestJoinThroughNode checks the node-level join path the benchmark uses.
func TestJoinThroughNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startTestNode(t, "a"), startTestNode(t, "b")
	if _, err := a.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	inv, err := a.CreateInvite(ctx, apiv1.CreateInviteRequest{Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Join(ctx, apiv1.JoinRequest{Token: inv.Token})
	if err != nil {
		t.Fatal(err)
	}
	if res.InvitedBy != a.ID().String() {
		t.Fatalf("invited by %s, want %s", res.InvitedBy, a.ID())
	}
	// A second join with a token of the same network joins nothing: it
	// says so (and would dial the token's addresses if b reached nobody).
	again, err := b.Join(ctx, apiv1.JoinRequest{Token: inv.Token})
	if err != nil || !again.AlreadyMember || again.Network != res.Network {
		t.Fatalf("joining twice: %+v, %v; want already a member of %+v", again, err, res.Network)
	}
}
