package rooms

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// fakePeers are n distinct IDs in random order: the tree only compares
// them, and real keys would make the 100,000-node benchmarks slow to set up.
func fakePeers(n int, rng *rand.Rand) []peer.ID {
	out := make([]peer.ID, n)
	for i := range out {
		out[i] = peer.ID(fmt.Sprintf("peer-%016x-%d", rng.Uint64(), i))
	}
	return out
}

// refDepth is the tree's depth found by walking up, as before the index.
func refDepth(t *Tree, p peer.ID) (int, bool) {
	d := 0
	for cur := t.nodes[p]; cur == nil || cur.id != t.root; d++ {
		if cur == nil || cur.up == nil || d > len(t.nodes) {
			return 0, false
		}
		cur = cur.up
	}
	return d, true
}

// refBestParent is the placement before the index: a scan over every node.
func refBestParent(t *Tree, child peer.ID, avoid []peer.ID) (peer.ID, error) {
	type cand struct {
		id           peer.ID
		depth, spare int
	}
	var best *cand
	for id, n := range t.nodes {
		spare := n.capacity - len(n.children)
		if _, isChild := n.children[child]; isChild {
			spare++
		}
		if spare <= 0 || slices.Contains(avoid, id) || t.inSubtree(id, child) {
			continue
		}
		depth, attached := refDepth(t, id)
		if !attached {
			continue
		}
		c := cand{id, depth, spare}
		if best == nil || cmp.Or(cmp.Compare(c.depth, best.depth), cmp.Compare(best.spare, c.spare),
			cmp.Compare(c.id, best.id)) < 0 {
			best = &c
		}
	}
	if best == nil {
		return "", ErrNoParent
	}
	return best.id, nil
}

// checkIndex verifies every cached depth against a walk up, and that each
// node is listed exactly where it belongs, in valid heaps.
func checkIndex(tb testing.TB, t *Tree) {
	tb.Helper()
	seen := map[*treeNode]int{}
	for class, byDepth := range t.open {
		for d, li := range byDepth {
			count := 0
			for spare, h := range li.bySpare {
				for i, n := range h {
					want := openSlot{class: class, depth: d, spare: spare, pos: i}
					if n.open != want || n.depth != d || n.spare() != spare || t.classOf(n) != class {
						tb.Fatalf("%s listed at %+v: depth %d spare %d class %d", n.id, n.open, n.depth, n.spare(), t.classOf(n))
					}
					if i > 0 && h[(i-1)/2].id > n.id {
						tb.Fatalf("heap order broken at %d", i)
					}
					seen[n]++
					count++
				}
			}
			if count != li.count {
				tb.Fatalf("class %d depth %d counts %d, holds %d", class, d, li.count, count)
			}
		}
	}
	for id, n := range t.nodes {
		want, ok := refDepth(t, id)
		if !ok {
			want = detached
		}
		if n.depth != want {
			tb.Fatalf("%s: cached depth %d, walked %d", id, n.depth, want)
		}
		open := 0
		if n.depth >= 0 && n.spare() > 0 {
			open = 1
		}
		if seen[n] != open {
			tb.Fatalf("%s is listed %d times, want %d", id, seen[n], open)
		}
		leaf := n.depth >= 0 && len(n.children) == 0 && !n.traits.AlwaysOn && !n.onStage && id != t.root
		if inLeaves := n.leaf.depth != unlisted && t.leaves[n.leaf.depth][n.leaf.pos] == n; inLeaves != leaf {
			tb.Fatalf("%s: leaf %v, listed %v", id, leaf, inLeaves)
		}
	}
}

// TestIndexedPlaceMatchesScan runs random joins, leaves, repairs, stage
// moves and adoptions, and checks every placement against the scan over
// all nodes that the index replaced.
func TestIndexedPlaceMatchesScan(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		ps := fakePeers(300, rng)
		tr := NewTree(ps[0], rng.IntN(4))
		for step := range 1500 {
			p := ps[1+rng.IntN(len(ps)-1)]
			switch op := rng.IntN(10); {
			case op < 6:
				var avoid []peer.ID
				if par, ok := tr.Parent(p); ok && rng.IntN(3) == 0 {
					avoid = []peer.ID{par}
				}
				capacity, onStage := rng.IntN(5), rng.IntN(20) == 0
				want, wantErr := refBestParent(tr, p, avoid)
				got, err := tr.Place(p, capacity, onStage, avoid...)
				if onStage {
					want, wantErr = ps[0], nil
				} else if n := tr.nodes[p]; wantErr == nil && n.capacity != capacity {
					t.Fatal("capacity not updated")
				}
				if got != want || (err == nil) != (wantErr == nil) {
					t.Fatalf("seed %d step %d: index placed %s under %s (%v), scan says %s (%v)", seed, step, p, got, err, want, wantErr)
				}
			case op < 8:
				tr.Remove(p)
			default:
				q := ps[rng.IntN(len(ps))]
				_ = tr.Adopt(p, q, rng.IntN(4))
			}
			checkIndex(t, tr)
		}
	}
}

// TestZeroPlacerIsTreePlace: a Placer with no traits, backups or streams
// gives Tree.Place's answers, so the network side changed nothing by
// calling it.
func TestZeroPlacerIsTreePlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	ps := fakePeers(200, rng)
	a, b := NewTree(ps[0], 3), NewTree(ps[0], 3)
	for step := range 2000 {
		p := ps[1+rng.IntN(len(ps)-1)]
		if rng.IntN(4) == 0 {
			a.Remove(p)
			b.Remove(p)
			continue
		}
		var avoid peer.ID
		if par, ok := a.Parent(p); ok && rng.IntN(2) == 0 {
			avoid = par
		}
		capacity, onStage := rng.IntN(4), rng.IntN(15) == 0
		var avoidList []peer.ID
		if avoid != "" {
			avoidList = []peer.ID{avoid}
		}
		want, wantErr := a.Place(p, capacity, onStage, avoidList...)
		got, err := Placer{Tree: b}.Place(PlaceRequest{Child: p, Capacity: capacity, OnStage: onStage, Avoid: avoid})
		if got.Parent != want || (err == nil) != (wantErr == nil) {
			t.Fatalf("step %d: placer %s (%v), tree %s (%v)", step, got.Parent, err, want, wantErr)
		}
	}
}
