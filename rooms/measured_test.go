package rooms

import (
	"math/rand/v2"
	"testing"
	"time"
)

// A child's measured round trips pick among parents that rank the same
// by depth and hole punching: the nearest it measured wins over the
// roomiest, an unmeasured one comes after every measured one, and depth
// and the no-punch rule still come first.
func TestMeasuredRTTPicksAmongEquals(t *testing.T) {
	ps := fakePeers(10, rand.New(rand.NewPCG(7, 7)))
	root, roomy, far, near := ps[0], ps[1], ps[2], ps[3]
	pl := Placer{Tree: NewTree(root, 3)}
	mustPlacer(t, pl, PlaceRequest{Child: roomy, Capacity: 6})
	mustPlacer(t, pl, PlaceRequest{Child: far, Capacity: 2})
	mustPlacer(t, pl, PlaceRequest{Child: near, Capacity: 2})
	ms := func(pairs ...any) []PeerRTT {
		var out []PeerRTT
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, PeerRTT{Peer: ps[pairs[i].(int)], RTT: time.Duration(pairs[i+1].(int)) * time.Millisecond})
		}
		return out
	}
	// measured: the nearest, though the roomy relay has more room
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[4], RTTs: ms(2, 80, 3, 12)}); got.Parent != near {
		t.Fatalf("under %s, want the nearest measured %s", got.Parent, near)
	}
	// one measured, the others not: the measured one before the roomiest
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[5], RTTs: ms(2, 150)}); got.Parent != far {
		t.Fatalf("under %s, want the only measured %s", got.Parent, far)
	}
	// depth first: ps[4] at depth 2 measured at 1 ms loses to depth 1
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[6], RTTs: ms(4, 1, 1, 90)}); got.Parent != roomy {
		t.Fatalf("under %s, want the depth-1 relay %s", got.Parent, roomy)
	}
	// no hole punch first: a punchable child under the public relay, not
	// the nearer punchable one
	punchy := ps[7]
	mustPlacer(t, pl, PlaceRequest{Child: punchy, Capacity: 4, Under: roomy, Traits: Traits{Reach: ReachPunchable}})
	req := PlaceRequest{Child: ps[8], Traits: Traits{Reach: ReachPunchable}, RTTs: ms(7, 1, 1, 90)}
	if got := mustPlacer(t, pl, req); got.Parent != roomy {
		t.Fatalf("under %s, want the public relay %s before the punchable %s", got.Parent, roomy, punchy)
	}
}

// Backups rank by nearness too, and a measured round trip is nearness.
func TestMeasuredRTTRanksBackups(t *testing.T) {
	ps := fakePeers(8, rand.New(rand.NewPCG(8, 8)))
	root := ps[0]
	pl := Placer{Tree: NewTree(root, 4), Backups: 1}
	for _, p := range ps[1:4] {
		mustPlacer(t, pl, PlaceRequest{Child: p, Capacity: 3})
	}
	got := mustPlacer(t, pl, PlaceRequest{Child: ps[4], Under: ps[1],
		RTTs: []PeerRTT{{Peer: ps[2], RTT: 9 * time.Millisecond}, {Peer: ps[3], RTT: 90 * time.Millisecond}}})
	if len(got.Backups) != 1 || got.Backups[0] != ps[2] {
		t.Fatalf("backups %v, want the nearest measured %s", got.Backups, ps[2])
	}
}

// A request's measured round trips are read up to MaxMeasuredRTTs, and
// zero or negative ones are no measurement.
func TestMeasuredOfBounds(t *testing.T) {
	ps := fakePeers(MaxMeasuredRTTs+4, rand.New(rand.NewPCG(9, 9)))
	var rtts []PeerRTT
	for i, p := range ps {
		rtts = append(rtts, PeerRTT{Peer: p, RTT: time.Duration(i) * time.Millisecond})
	}
	m := measuredOf(rtts)
	if len(m) != MaxMeasuredRTTs-1 { // ps[0] measured 0: none
		t.Fatalf("%d measured, want %d", len(m), MaxMeasuredRTTs-1)
	}
	if _, ok := m[ps[0]]; ok {
		t.Fatal("a zero round trip counts as measured")
	}
}

// A relay that reports a lower capacity (its uplink is saturated) gets no
// new children, keeps the ones it has, and takes new ones again once it
// reports more.
func TestSetCapacityStopsNewChildren(t *testing.T) {
	ps := fakePeers(8, rand.New(rand.NewPCG(10, 10)))
	root, relay := ps[0], ps[1]
	pl := Placer{Tree: NewTree(root, 1)}
	mustPlacer(t, pl, PlaceRequest{Child: relay, Capacity: 4})
	mustPlacer(t, pl, PlaceRequest{Child: ps[2]})
	mustPlacer(t, pl, PlaceRequest{Child: ps[3]})
	if !pl.Tree.SetCapacity(relay, 1) {
		t.Fatal("SetCapacity refused a known relay")
	}
	if _, err := pl.Place(PlaceRequest{Child: ps[4]}); err == nil {
		t.Fatal("placed a child under the saturated relay")
	}
	if got := pl.Tree.Children(relay); len(got) != 2 {
		t.Fatalf("the saturated relay keeps %d children, want its 2", len(got))
	}
	pl.Tree.SetCapacity(relay, 3)
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[4]}); got.Parent != relay {
		t.Fatalf("after growing back: under %s, want the relay", got.Parent)
	}
	if pl.Tree.SetCapacity(root, 0) || pl.Tree.SetCapacity(ps[7], 0) {
		t.Fatal("SetCapacity took the root or an unknown node")
	}
}
