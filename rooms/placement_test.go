package rooms

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func mustPlacer(tb testing.TB, p Placer, req PlaceRequest) Placement {
	tb.Helper()
	out, err := p.Place(req)
	if err != nil {
		tb.Fatalf("place %s: %v", req.Child, err)
	}
	return out
}

func TestCapacityFromUplink(t *testing.T) {
	for _, tc := range []struct{ kbps, streams, want int }{
		{0, 1, 0}, {-5, 1, 0}, {73, 1, 0}, {74, 1, 1}, {1000, 1, 13}, {1000, 2, 6}, {1000, 0, 13},
		{1 << 30, 1, MaxRelayCapacity},
	} {
		if got := CapacityFromUplink(tc.kbps, tc.streams); got != tc.want {
			t.Errorf("%d kbit/s, %d streams: %d children, want %d", tc.kbps, tc.streams, got, tc.want)
		}
	}
}

func TestMeasuredUplinkBoundsDeclaredCapacity(t *testing.T) {
	ps := fakePeers(6, rand.New(rand.NewPCG(1, 1)))
	tr := NewTree(ps[0], 1)
	pl := Placer{Tree: tr, Streams: 2}
	// declares 8, but 300 kbit/s carries two children of two streams
	mustPlacer(t, pl, PlaceRequest{Child: ps[1], Capacity: 8, Traits: Traits{UplinkKbps: 300}})
	for _, p := range ps[2:4] {
		if got := mustPlacer(t, pl, PlaceRequest{Child: p, Capacity: 0}); got.Parent != ps[1] {
			t.Fatalf("%s under %s, want the relay", p, got.Parent)
		}
	}
	if _, err := pl.Place(PlaceRequest{Child: ps[4]}); !errors.Is(err, ErrNoParent) {
		t.Fatalf("third child of a 300 kbit/s relay: %v, want ErrNoParent", err)
	}
}

func TestRelayOnlyIsLastResort(t *testing.T) {
	ps := fakePeers(12, rand.New(rand.NewPCG(2, 2)))
	root, relayOnly, punch := ps[0], ps[1], ps[2]
	pl := Placer{Tree: NewTree(root, 2)}
	mustPlacer(t, pl, PlaceRequest{Child: relayOnly, Capacity: 4, Traits: Traits{Reach: ReachRelayOnly}})
	mustPlacer(t, pl, PlaceRequest{Child: punch, Capacity: 4, Traits: Traits{Reach: ReachPunchable}})
	// a relay-only child cannot link to a punchable parent, and nobody
	// else has room under the full root
	if _, err := pl.Place(PlaceRequest{Child: ps[3], Traits: Traits{Reach: ReachRelayOnly}}); !errors.Is(err, ErrNoParent) {
		t.Fatalf("relay-only child: %v, want ErrNoParent", err)
	}
	// public children fill the punchable relay before the relay-only one
	for _, p := range ps[4:8] {
		if got := mustPlacer(t, pl, PlaceRequest{Child: p, Traits: Traits{Reach: ReachPublic}}); got.Parent != punch {
			t.Fatalf("%s under %s, want the punchable relay first", p, got.Parent)
		}
	}
	// then the relay-only node takes one, as nothing else is left
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[8], Traits: Traits{Reach: ReachPublic}}); got.Parent != relayOnly {
		t.Fatalf("last resort: under %s, want the relay-only node", got.Parent)
	}
	// but never a punchable child: the two cannot link
	if _, err := pl.Place(PlaceRequest{Child: ps[9], Traits: Traits{Reach: ReachPunchable}}); !errors.Is(err, ErrNoParent) {
		t.Fatalf("punchable child under a relay-only parent: %v", err)
	}
}

func TestNearestOfEquallyShallow(t *testing.T) {
	ps := fakePeers(8, rand.New(rand.NewPCG(3, 3)))
	pl := Placer{Tree: NewTree(ps[0], 3)}
	at := func(x, y float64) Traits { return Traits{Coord: Coord{X: x, Y: y, Height: 2}, HasCoord: true} }
	far, mid, near := ps[1], ps[2], ps[3]
	mustPlacer(t, pl, PlaceRequest{Child: far, Capacity: 2, Traits: at(200, 0)})
	mustPlacer(t, pl, PlaceRequest{Child: mid, Capacity: 2, Traits: at(80, 0)})
	mustPlacer(t, pl, PlaceRequest{Child: near, Capacity: 1, Traits: at(10, 0)})
	// nearest of the three at depth 1, though it has the least room
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[4], Capacity: 2, Traits: at(0, 0)}); got.Parent != near {
		t.Fatalf("under %s, want the nearest", got.Parent)
	}
	// ps[4] at depth 2 is nearer still, but depth comes first
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[5], Traits: at(1, 0)}); got.Parent != mid {
		t.Fatalf("under %s, want the nearest at depth 1", got.Parent)
	}
	// without a coordinate: the most room, as before
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[6]}); got.Parent != far {
		t.Fatalf("no coordinate: under %s, want the roomiest", got.Parent)
	}
}

func TestAlwaysOnTakesAShallowLeafsPlace(t *testing.T) {
	ps := fakePeers(6, rand.New(rand.NewPCG(4, 4)))
	root, relay, leaf, kid, always := ps[0], ps[1], ps[2], ps[3], ps[4]
	pl := Placer{Tree: NewTree(root, 2)}
	mustPlacer(t, pl, PlaceRequest{Child: relay, Capacity: 2})
	mustPlacer(t, pl, PlaceRequest{Child: leaf, Capacity: 0})
	mustPlacer(t, pl, PlaceRequest{Child: kid, Capacity: 0})
	got := mustPlacer(t, pl, PlaceRequest{Child: always, Capacity: 8, Traits: Traits{AlwaysOn: true}})
	if got.Parent != root || !slices.Equal(got.Moved, []Move{{Child: leaf, Parent: always}}) {
		t.Fatalf("always-on node: %+v, want the leaf's place under the root", got)
	}
	if p, _ := pl.Tree.Parent(leaf); p != always {
		t.Fatalf("moved leaf under %s", p)
	}
	checkIndex(t, pl.Tree)
	// an ordinary node of the same capacity takes no one's place
	got = mustPlacer(t, pl, PlaceRequest{Child: ps[5], Capacity: 8})
	if len(got.Moved) != 0 {
		t.Fatalf("ordinary node moved %v", got.Moved)
	}
}

// TestBackupsOutsideTheParentsSubtree: backups survive the parent's death
// (not in its subtree), have room, and siblings do not all lean on one.
func TestBackupsOutsideTheParentsSubtree(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	ps := fakePeers(400, rng)
	pl := Placer{Tree: NewTree(ps[0], 4), Backups: 2}
	tr := pl.Tree
	granted := map[peer.ID][]peer.ID{}
	for _, p := range ps[1:] {
		got := mustPlacer(t, pl, PlaceRequest{Child: p, Capacity: 1 + rng.IntN(4)})
		granted[p] = got.Backups
		if len(got.Backups) > 0 && got.Parent == ps[0] {
			t.Fatalf("%s under the host got backups", p)
		}
		for _, b := range got.Backups {
			if b == got.Parent || tr.inSubtree(b, got.Parent) {
				t.Fatalf("%s: backup %s dies with parent %s", p, b, got.Parent)
			}
		}
	}
	// siblings' grants on one node never exceed its room at grant time:
	// check the last family placed, whose grants are all current
	last := ps[len(ps)-1]
	par, _ := tr.Parent(last)
	load := map[peer.ID]int{}
	for _, s := range tr.Children(par) {
		for _, b := range tr.Backups(s) {
			load[b]++
		}
	}
	for b, k := range load {
		if n := tr.nodes[b]; k > n.spare()+1 {
			t.Fatalf("%d siblings lean on %s with %d spare", k, b, n.spare())
		}
	}
	if len(granted[last]) == 0 {
		t.Fatal("a deep listener got no backup")
	}
}

func TestFailoverAndLostParent(t *testing.T) {
	ps := fakePeers(10, rand.New(rand.NewPCG(6, 6)))
	pl := Placer{Tree: NewTree(ps[0], 2), Backups: 1}
	tr := pl.Tree
	for _, p := range ps[1:7] {
		mustPlacer(t, pl, PlaceRequest{Child: p, Capacity: 2})
	}
	var child, parent peer.ID
	for _, p := range tr.Nodes() {
		if d, _ := tr.Depth(p); d == 2 && len(tr.Backups(p)) > 0 {
			child = p
			parent, _ = tr.Parent(p)
			break
		}
	}
	if child == "" {
		t.Fatal("no depth-2 node with a backup")
	}
	backup := tr.Backups(child)[0]
	// the child failed over to its backup and says so
	got := mustPlacer(t, pl, PlaceRequest{Child: child, Capacity: 2, Avoid: parent, Under: backup})
	if got.Parent != backup {
		t.Fatalf("after failover under %s, want backup %s", got.Parent, backup)
	}
	// a report naming a parent in its own subtree is not believed
	mustPlacer(t, pl, PlaceRequest{Child: ps[7], Capacity: 0})
	sub := tr.Children(child)
	if len(sub) > 0 {
		got = mustPlacer(t, pl, PlaceRequest{Child: child, Capacity: 2, Under: sub[0]})
		if got.Parent == sub[0] {
			t.Fatal("child recorded under its own child")
		}
	}
	// a lost parent the host cannot reach leaves the tree with its orphans
	got = mustPlacer(t, pl, PlaceRequest{Child: child, Capacity: 2, Avoid: backup, AvoidGone: true})
	if _, known := tr.Depth(backup); known || got.Parent == backup {
		t.Fatalf("lost parent %s still in the tree", backup)
	}
	checkIndex(t, tr)
}

// TestSiblingsDoNotShareAFullBackup: children of one parent fail over at
// once, so a backup with one spare place (and the headroom of one) is
// handed to two of them, not three.
func TestSiblingsDoNotShareAFullBackup(t *testing.T) {
	ps := fakePeers(6, rand.New(rand.NewPCG(7, 7)))
	root, a, b := ps[0], ps[1], ps[2]
	pl := Placer{Tree: NewTree(root, 2), Backups: 2}
	mustPlacer(t, pl, PlaceRequest{Child: a, Capacity: 4})
	mustPlacer(t, pl, PlaceRequest{Child: b, Capacity: 1})
	var got []Placement
	for _, c := range ps[3:6] {
		got = append(got, mustPlacer(t, pl, PlaceRequest{Child: c}))
		if p := got[len(got)-1].Parent; p != a {
			t.Fatalf("%s under %s, want %s", c, p, a)
		}
	}
	for i, want := range [][]peer.ID{{b}, {b}, nil} {
		if !slices.Equal(got[i].Backups, want) {
			t.Fatalf("child %d: backups %v, want %v", i, got[i].Backups, want)
		}
	}
}

// TestGrandparentIsABackupWhenFull: a full node near the child backs it,
// using the headroom, rather than a deeper node with room.
func TestGrandparentIsABackupWhenFull(t *testing.T) {
	ps := fakePeers(8, rand.New(rand.NewPCG(8, 8)))
	pl := Placer{Tree: NewTree(ps[0], 1), Backups: 1}
	g := ps[1]
	mustPlacer(t, pl, PlaceRequest{Child: g, Capacity: 1})
	p := ps[2]
	mustPlacer(t, pl, PlaceRequest{Child: p, Capacity: 3})
	got := mustPlacer(t, pl, PlaceRequest{Child: ps[3], Capacity: 0})
	if got.Parent != p || !slices.Equal(got.Backups, []peer.ID{g}) {
		t.Fatalf("%+v, want under %s with its full grandparent %s as backup", got, p, g)
	}
}

// TestNoPunchFirst: of equally shallow parents, one the child can reach
// without a hole punch, though the other is nearer.
func TestNoPunchFirst(t *testing.T) {
	ps := fakePeers(4, rand.New(rand.NewPCG(9, 9)))
	pl := Placer{Tree: NewTree(ps[0], 2)}
	at := func(x float64, r Reach) Traits { return Traits{Reach: r, Coord: Coord{X: x}, HasCoord: true} }
	mustPlacer(t, pl, PlaceRequest{Child: ps[1], Capacity: 2, Traits: at(1, ReachPunchable)})
	mustPlacer(t, pl, PlaceRequest{Child: ps[2], Capacity: 2, Traits: at(90, ReachPublic)})
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[3], Traits: at(0, ReachPunchable)}); got.Parent != ps[2] {
		t.Fatalf("under %s, want the public one", got.Parent)
	}
}

// TestFailoverDeeperThanNeedMovesUp: a child reporting it failed over to a
// deep backup is moved to a shallower free place instead; with none, it
// stays where it is.
func TestFailoverDeeperThanNeedMovesUp(t *testing.T) {
	ps := fakePeers(8, rand.New(rand.NewPCG(10, 10)))
	pl := Placer{Tree: NewTree(ps[0], 2)}
	a, b, mid, deep := ps[1], ps[2], ps[3], ps[4]
	mustPlacer(t, pl, PlaceRequest{Child: a, Capacity: 1})
	mustPlacer(t, pl, PlaceRequest{Child: b, Capacity: 0})
	if got := mustPlacer(t, pl, PlaceRequest{Child: mid, Capacity: 1}); got.Parent != a {
		t.Fatalf("mid under %s", got.Parent)
	}
	if got := mustPlacer(t, pl, PlaceRequest{Child: deep, Capacity: 3}); got.Parent != mid {
		t.Fatalf("deep under %s", got.Parent)
	}
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[5], Under: deep}); got.Parent != deep {
		t.Fatalf("no shallower place: under %s, want where it failed over to", got.Parent)
	}
	pl.Tree.Remove(b) // a place at depth 1 frees: two levels above deep
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[6], Under: deep}); got.Parent != ps[0] {
		t.Fatalf("failed over to a depth-3 backup with the host's place free: under %s", got.Parent)
	}
}

// TestLostParentIsBetterThanNone: a child that lost its link to the root
// (a TURN relay died, not the host) and asks while avoiding it is placed
// under the root again when nobody else has room, not refused.
func TestLostParentIsBetterThanNone(t *testing.T) {
	ps := fakePeers(3, rand.New(rand.NewPCG(8, 8)))
	root, full, child := ps[0], ps[1], ps[2]
	pl := Placer{Tree: NewTree(root, 4), Backups: 1}
	mustPlacer(t, pl, PlaceRequest{Child: full, Capacity: 0})
	mustPlacer(t, pl, PlaceRequest{Child: child, Capacity: 0})
	got, err := pl.Place(PlaceRequest{Child: child, Avoid: root})
	if err != nil {
		t.Fatalf("a child avoiding the root with nobody else to take it: %v", err)
	}
	if got.Parent != root {
		t.Fatalf("placed under %s, want the root %s", got.Parent, root)
	}
	// Someone else with room is still preferred to the lost parent.
	mustPlacer(t, pl, PlaceRequest{Child: full, Capacity: 2})
	if got = mustPlacer(t, pl, PlaceRequest{Child: child, Avoid: root}); got.Parent != full {
		t.Fatalf("placed under %s, want %s, which has room and is not the lost parent", got.Parent, full)
	}
	checkIndex(t, pl.Tree)
}

// TestTURNLinksRelayOnlyNodes: with TURN in the network, a relay-only
// child that no parent can reach directly hangs under a punchable one
// through TURN rather than being refused, and a relay-only node still
// takes children only when nobody else has room.
func TestTURNLinksRelayOnlyNodes(t *testing.T) {
	ps := fakePeers(6, rand.New(rand.NewPCG(9, 9)))
	root, relayOnly, punch, late := ps[0], ps[1], ps[2], ps[3]
	tree := NewTree(root, 2)
	tree.SetRootTraits(Traits{Reach: ReachPunchable}) // a host behind a home router
	pl := Placer{Tree: tree, TURN: true}
	without := Placer{Tree: tree}
	if _, err := without.Place(PlaceRequest{Child: relayOnly, Capacity: 4, Traits: Traits{Reach: ReachRelayOnly}}); !errors.Is(err, ErrNoParent) {
		t.Fatalf("relay-only child of a punchable host without TURN: %v, want ErrNoParent", err)
	}
	if got := mustPlacer(t, pl, PlaceRequest{Child: relayOnly, Capacity: 4, Traits: Traits{Reach: ReachRelayOnly}}); got.Parent != root {
		t.Fatalf("relay-only child under %s, want the punchable host through TURN", got.Parent)
	}
	if got := mustPlacer(t, pl, PlaceRequest{Child: punch, Capacity: 1, Traits: Traits{Reach: ReachPunchable}}); got.Parent != root {
		t.Fatalf("punchable child under %s, want the host", got.Parent)
	}
	// The root is full: the punchable node with room is preferred to the
	// relay-only one with more.
	if got := mustPlacer(t, pl, PlaceRequest{Child: late, Traits: Traits{Reach: ReachPunchable}}); got.Parent != punch {
		t.Fatalf("late child under %s, want the punchable relay before the relay-only one", got.Parent)
	}
	// Only the relay-only node has room left: it takes one, through TURN.
	if got := mustPlacer(t, pl, PlaceRequest{Child: ps[4], Traits: Traits{Reach: ReachPunchable}}); got.Parent != relayOnly {
		t.Fatalf("last child under %s, want the relay-only node as a last resort", got.Parent)
	}
	checkIndex(t, tree)
}
