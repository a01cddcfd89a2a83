package rooms

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The placement benchmarks churn a tree of n nodes: each op removes a
// random node, re-places its orphans (their subtrees move with them) and
// places it again as a new joiner. ns/placement is the figure to read.
//
//	go test ./rooms -run '^$' -bench Place -benchtime 2000x

type benchTree struct {
	pl    Placer
	ids   []peer.ID
	reqs  map[peer.ID]PlaceRequest
	rng   *rand.Rand
	scan  bool // place with the scan over all nodes, as before the index
	count int
}

func newBenchTree(b *testing.B, n int, traits bool, backups int) *benchTree {
	b.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	ids := fakePeers(n+1, rng)
	bt := &benchTree{pl: Placer{Tree: NewTree(ids[0], 8), Streams: 2, Backups: backups}, ids: ids[1:],
		reqs: map[peer.ID]PlaceRequest{}, rng: rng}
	for _, id := range bt.ids {
		req := PlaceRequest{Child: id, Capacity: 4}
		if rng.IntN(5) == 0 {
			req.Capacity = 0
		}
		if traits {
			req.Traits = Traits{UplinkKbps: 300 + rng.IntN(20000), Reach: Reach(1 + rng.IntN(3)),
				Coord: Coord{X: rng.NormFloat64() * 40, Y: rng.NormFloat64() * 40, Height: 5}, HasCoord: true}
		}
		bt.reqs[id] = req
		if _, err := bt.pl.Place(req); err != nil {
			b.Fatal(err)
		}
	}
	return bt
}

func (bt *benchTree) place(req PlaceRequest) {
	bt.count++
	if bt.scan {
		if _, err := refBestParent(bt.pl.Tree, req.Child, []peer.ID{req.Avoid}); err != nil {
			return
		}
	}
	_, _ = bt.pl.Place(req)
}

func (bt *benchTree) churn() {
	id := bt.ids[bt.rng.IntN(len(bt.ids))]
	for _, o := range bt.pl.Tree.Remove(id) {
		req := bt.reqs[o]
		req.Avoid = id
		bt.place(req)
	}
	bt.place(bt.reqs[id])
}

func benchPlace(b *testing.B, traits bool, backups int, scan bool, sizes ...int) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			bt := newBenchTree(b, n, traits, backups)
			bt.scan = scan
			start := time.Now()
			for b.Loop() {
				bt.churn()
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(bt.count), "ns/placement")
		})
	}
}

// BenchmarkPlace: the indexed placement with declared capacities only.
func BenchmarkPlace(b *testing.B) { benchPlace(b, false, 0, false, 10_000, 100_000) }

// BenchmarkPlaceScan: the same churn placed by the scan over every node
// that the index replaced (it also runs the indexed placement, to keep
// the tree the same; the scan dominates).
func BenchmarkPlaceScan(b *testing.B) { benchPlace(b, false, 0, true, 10_000, 100_000) }

// BenchmarkPlaceLearned: uplinks, reach classes, coordinates and two
// backup parents per listener.
func BenchmarkPlaceLearned(b *testing.B) { benchPlace(b, true, 2, false, 10_000, 100_000) }

// BenchmarkPlaceAndAssign is the host's CPU per place request at 10,000
// listeners: the learned placement with two backups, and signing the
// assignment that carries them.
func BenchmarkPlaceAndAssign(b *testing.B) {
	bt := newBenchTree(b, 10_000, true, 2)
	key, _ := newKey(b)
	room, _ := NewRoomID()
	now := time.Now()
	var ids []peer.ID
	for range 2 + MaxBackups {
		_, id := newKey(b)
		ids = append(ids, id)
	}
	for b.Loop() {
		id := bt.ids[bt.rng.IntN(len(bt.ids))]
		pl, err := bt.pl.Place(bt.reqs[id])
		if err != nil {
			continue
		}
		// real peer IDs (the tree's are short fakes) of real length
		backups := ids[2 : 2+len(pl.Backups)]
		if _, err := AssignWithBackups(key, room, ids[0], ids[1], backups, now); err != nil {
			b.Fatal(err)
		}
	}
}
