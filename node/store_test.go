package node

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/node/home"
	"github.com/clubnode/clubnode/p2p"
)

// countingDS counts the writes that reach the disk: single puts and
// committed batches, each one synced write.
type countingDS struct {
	ds.Batching
	writes atomic.Int32
}

func (c *countingDS) Put(ctx context.Context, k ds.Key, v []byte) error {
	c.writes.Add(1)
	return c.Batching.Put(ctx, k, v)
}

func (c *countingDS) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := c.Batching.Batch(ctx)
	return countingBatch{Batch: b, c: c}, err
}

type countingBatch struct {
	ds.Batch
	c *countingDS
}

func (b countingBatch) Commit(ctx context.Context) error {
	b.c.writes.Add(1)
	return b.Batch.Commit(ctx)
}

// A member the network shows again as it is stored costs no write, and a
// member seen with its addresses costs one, not one each.
func TestMemberSeenWritesOnlyWhatChanged(t *testing.T) {
	d, err := openDisk(home.Home{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	disk := &countingDS{Batching: d}
	st := &store{ds: disk, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	key, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	charter, err := identity.FoundNetwork(key, "Night Owls", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := p2p.Member{Chain: identity.FounderChain(charter)}
	addrs := []ma.Multiaddr{ma.StringCast("/ip4/198.51.100.7/udp/4001/quic-v1")}
	ctx := context.Background()

	seen := func(m p2p.Member, addrs []ma.Multiaddr, wantWrites int32, what string) {
		t.Helper()
		before := disk.writes.Load()
		if err := st.putMemberSeen(ctx, m, addrs, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := disk.writes.Load() - before; got != wantWrites {
			t.Errorf("%s: %d writes, want %d", what, got, wantWrites)
		}
	}
	seen(m, addrs, 1, "a new member with its addresses")
	seen(m, nil, 0, "the same member again")
	seen(m, addrs, 1, "the same member reached again")
	prof, err := identity.SignProfile(key, identity.Profile{Network: charter.Network, Peer: m.Chain.Member(), Name: "Ada", Updated: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	m.Profile = prof
	seen(m, nil, 1, "the member with a new profile")

	members, err := st.members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0].Profile == nil || members[0].Profile.Name != "Ada" {
		t.Fatalf("stored members: %+v, want the founder with the profile named Ada", members)
	}
	peers, err := st.knownPeers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 || peers[0].ID != m.Chain.Member() || len(peers[0].Addrs) != 1 {
		t.Fatalf("stored peers: %v, want %s at one address", peers, m.Chain.Member())
	}
}
