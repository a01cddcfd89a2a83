package p2p

import (
	"context"
	"strings"
	"sync"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// Provider records are what members find each other by in the DHT (one
// rendezvous key per network). kad-dht keeps them in a datastore it is
// given, with no bound of its own on how many; boundedProviders is that
// datastore with bounds: at most maxProviderRecords in all and
// maxRecordsPerProvider per providing peer. Only members reach the DHT at
// all (memberHost) and a peer can only provide itself (kad-dht checks the
// sender), so the per-peer bound is what stops one member from filling it.
// A record past a bound is dropped quietly, as kad-dht drops records it
// cannot store: its provider re-provides later.
const (
	maxProviderRecords    = 20000
	maxRecordsPerProvider = 4
)

// boundedProviders is an in-memory ds.Batching with the bounds above.
type boundedProviders struct {
	ds.Batching

	mu      sync.Mutex
	total   int
	byOwner map[string]int // records per provider, by the key's last segment
}

func newBoundedProviders() *boundedProviders {
	return &boundedProviders{Batching: dssync.MutexWrap(ds.NewMapDatastore()), byOwner: map[string]int{}}
}

// owner is the provider a record belongs to: kad-dht's keys are
// /providers/<key>/<provider>.
func owner(k ds.Key) string {
	s := k.String()
	return s[strings.LastIndexByte(s, '/')+1:]
}

// Put stores a record if it is held already (an update) or within the
// bounds, and drops it otherwise. Writes are one at a time, so the counts
// stay exact.
func (b *boundedProviders) Put(ctx context.Context, k ds.Key, v []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	has, err := b.Batching.Has(ctx, k)
	if err != nil {
		return err
	}
	if !has {
		o := owner(k)
		if b.total >= maxProviderRecords || b.byOwner[o] >= maxRecordsPerProvider {
			return nil
		}
		b.total++
		b.byOwner[o]++
	}
	return b.Batching.Put(ctx, k, v)
}

func (b *boundedProviders) Delete(ctx context.Context, k ds.Key) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if has, err := b.Batching.Has(ctx, k); err == nil && has {
		o := owner(k)
		b.total--
		if b.byOwner[o]--; b.byOwner[o] <= 0 {
			delete(b.byOwner, o)
		}
	}
	return b.Batching.Delete(ctx, k)
}

// Batch applies puts and deletes at once on commit, through the bounds.
func (b *boundedProviders) Batch(context.Context) (ds.Batch, error) {
	return &providerBatch{b: b}, nil
}

type providerBatch struct {
	b   *boundedProviders
	ops []func(context.Context) error
}

func (pb *providerBatch) Put(_ context.Context, k ds.Key, v []byte) error {
	v = append([]byte(nil), v...)
	pb.ops = append(pb.ops, func(ctx context.Context) error { return pb.b.Put(ctx, k, v) })
	return nil
}

func (pb *providerBatch) Delete(_ context.Context, k ds.Key) error {
	pb.ops = append(pb.ops, func(ctx context.Context) error { return pb.b.Delete(ctx, k) })
	return nil
}

func (pb *providerBatch) Commit(ctx context.Context) error {
	for _, op := range pb.ops {
		if err := op(ctx); err != nil {
			return err
		}
	}
	pb.ops = nil
	return nil
}
