package rooms

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// peers makes n deterministic fake peer IDs (placement only compares them).
func peers(tb testing.TB, n int) []peer.ID {
	tb.Helper()
	out := make([]peer.ID, n)
	for i := range out {
		_, out[i] = newKey(tb)
	}
	return out
}

func mustPlace(tb testing.TB, tr *Tree, child peer.ID, capacity int, onStage bool, avoid ...peer.ID) peer.ID {
	tb.Helper()
	p, err := tr.Place(child, capacity, onStage, avoid...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestTreeFillsShallowestFirst(t *testing.T) {
	ps := peers(t, 15)
	host := ps[0]
	tr := NewTree(host, 2)
	depthCount := map[int]int{}
	for _, p := range ps[1:] {
		mustPlace(t, tr, p, 2, false)
		d, ok := tr.Depth(p)
		if !ok {
			t.Fatalf("%s not attached", p)
		}
		depthCount[d]++
	}
	// capacity 2 everywhere: 2 at depth 1, 4 at depth 2, 8 at depth 3
	if depthCount[1] != 2 || depthCount[2] != 4 || depthCount[3] != 8 {
		t.Fatalf("depths %v, want a full binary tree", depthCount)
	}
	for _, p := range append([]peer.ID{host}, ps[1:]...) {
		if n := len(tr.Children(p)); n > 2 {
			t.Fatalf("%s carries %d children over its capacity 2", p, n)
		}
	}
}

func TestTreeLeafOnlyAndFull(t *testing.T) {
	ps := peers(t, 4)
	tr := NewTree(ps[0], 1)
	if p := mustPlace(t, tr, ps[1], 0, false); p != ps[0] {
		t.Fatalf("first child under %s, want the host", p)
	}
	// the host is full and the only other node is leaf-only
	if _, err := tr.Place(ps[2], 0, false); !errors.Is(err, ErrNoParent) {
		t.Fatalf("got %v, want ErrNoParent", err)
	}
	// on stage goes under the host anyway
	if p := mustPlace(t, tr, ps[3], 0, true); p != ps[0] {
		t.Fatalf("speaker under %s, want the host", p)
	}
}

func TestTreeRepairMovesSubtreeAndAvoidsLoops(t *testing.T) {
	ps := peers(t, 8)
	host := ps[0]
	tr := NewTree(host, 2)
	for _, p := range ps[1:] {
		mustPlace(t, tr, p, 2, false)
	}
	// pick a relay at depth 1 with children; remove it as if it died
	var dead peer.ID
	for _, c := range tr.Children(host) {
		if len(tr.Children(c)) > 0 {
			dead = c
		}
	}
	orphans := tr.Remove(dead)
	if len(orphans) == 0 {
		t.Fatal("no orphans")
	}
	for _, o := range orphans {
		kids := tr.Children(o)
		if _, ok := tr.Depth(o); ok {
			t.Fatalf("orphan %s still attached", o)
		}
		p := mustPlace(t, tr, o, 2, false, dead)
		if p == dead || tr.inSubtree(p, o) {
			t.Fatalf("orphan %s placed under %s (dead or own subtree)", o, p)
		}
		if got := tr.Children(o); fmt.Sprint(got) != fmt.Sprint(kids) {
			t.Fatalf("orphan %s lost its subtree: %v, had %v", o, got, kids)
		}
	}
	for _, p := range tr.Nodes() {
		if _, ok := tr.Depth(p); !ok {
			t.Fatalf("%s not attached after repair", p)
		}
	}
	// a node never goes under its own descendant
	var parentWithKids peer.ID
	for _, p := range tr.Nodes() {
		if len(tr.Children(p)) > 0 {
			parentWithKids = p
			break
		}
	}
	if parentWithKids != "" {
		p := mustPlace(t, tr, parentWithKids, 2, false)
		if tr.inSubtree(p, parentWithKids) {
			t.Fatalf("placed under its own descendant %s", p)
		}
	}
	if err := tr.Adopt(host, ps[1], 1); err == nil {
		t.Fatal("adopting the root succeeded")
	}
}

func TestTreeIsDeterministic(t *testing.T) {
	ps := peers(t, 10)
	a, b := NewTree(ps[0], 3), NewTree(ps[0], 3)
	for _, p := range ps[1:] {
		if pa, pb := mustPlace(t, a, p, 2, false), mustPlace(t, b, p, 2, false); pa != pb {
			t.Fatalf("same tree, different answers: %s vs %s", pa, pb)
		}
	}
}

func TestAssignment(t *testing.T) {
	c := newCast(t)
	room, _ := NewRoomID()
	a, err := Assign(c.keys["H"], room, c.id("L"), c.id("S"), t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseAssignment(a.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Check(room, c.id("H"), c.id("L"), c.id("S"), t0); err != nil {
		t.Fatalf("valid assignment refused: %v", err)
	}
	other, _ := NewRoomID()
	for name, tc := range map[string]struct {
		room                RoomID
		host, child, parent peer.ID
		now                 time.Time
		want                error
	}{
		"other room":   {other, c.id("H"), c.id("L"), c.id("S"), t0, ErrUnknownRoom},
		"not the host": {room, c.id("M"), c.id("L"), c.id("S"), t0, ErrNotAllowed},
		"other child":  {room, c.id("H"), c.id("U"), c.id("S"), t0, ErrNotAllowed},
		"other parent": {room, c.id("H"), c.id("L"), c.id("T"), t0, ErrNotAllowed},
		"expired":      {room, c.id("H"), c.id("L"), c.id("S"), t0.Add(time.Hour), ErrExpired},
	} {
		if err := got.Check(tc.room, tc.host, tc.child, tc.parent, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	// signed by someone who is not the named host
	forged := *a
	forged.Host = c.id("M")
	data, err := seal(&forged.Assignment, c.keys["H"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseAssignment(data); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged host: got %v", err)
	}
	if _, err := Assign(c.keys["H"], room, c.id("L"), c.id("L"), t0); err == nil {
		t.Fatal("a child assigned under itself")
	}
}

func FuzzParseAssignment(f *testing.F) {
	c := newCast(f)
	room, _ := NewRoomID()
	a, err := Assign(c.keys["H"], room, c.id("L"), c.id("S"), t0)
	if err != nil {
		f.Fatal(err)
	}
	backed, err := AssignWithBackups(c.keys["H"], room, c.id("L"), c.id("S"), []peer.ID{c.id("M"), c.id("N"), c.id("T")}, t0)
	if err != nil {
		f.Fatal(err)
	}
	del, err := Delegate(c.keys["H"], room, c.id("M"), t0)
	if err != nil {
		f.Fatal(err)
	}
	delegated, err := AssignDelegated(c.keys["M"], del, c.id("L"), c.id("S"), []peer.ID{c.id("T")}, t0)
	if err != nil {
		f.Fatal(err)
	}
	fuzzParser(f, c.keys["H"], MaxAssignmentSize, [][]byte{a.Bytes, backed.Bytes, delegated.Bytes}, ParseAssignment,
		func(v *SignedAssignment) *Assignment { return &v.Assignment }, func(v *SignedAssignment) []byte { return v.Bytes })
}

func FuzzParseDelegation(f *testing.F) {
	c := newCast(f)
	room, _ := NewRoomID()
	d, err := Delegate(c.keys["H"], room, c.id("M"), t0)
	if err != nil {
		f.Fatal(err)
	}
	fuzzParser(f, c.keys["H"], MaxDelegationSize, [][]byte{d.Bytes}, ParseDelegation,
		func(v *SignedDelegation) *Delegation { return &v.Delegation }, func(v *SignedDelegation) []byte { return v.Bytes })
}

// A demoted relay keeps its place but carries nobody: its children are
// orphaned, and neither they nor newcomers are placed under it again
// (roomnet also places it with capacity 0 whenever it asks again).
func TestDemoteOrphansAndCarriesNobody(t *testing.T) {
	p := peers(t, 5)
	host, bad, good, a, b := p[0], p[1], p[2], p[3], p[4]
	tr := NewTree(host, 2)
	for _, c := range []peer.ID{bad, good} {
		if _, err := tr.Place(c, 2, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Adopt(a, bad, 0); err != nil {
		t.Fatal(err)
	}
	orphans := tr.Demote(bad)
	if len(orphans) != 1 || orphans[0] != a {
		t.Fatalf("orphans %v, want [%s]", orphans, a)
	}
	if got, ok := tr.Parent(bad); !ok || got != host {
		t.Fatalf("the demoted relay moved: parent %s", got)
	}
	for _, c := range []peer.ID{a, b} {
		parent, err := tr.Place(c, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if parent != good {
			t.Fatalf("%s placed under %s, want the honest relay %s", c, parent, good)
		}
	}
}
