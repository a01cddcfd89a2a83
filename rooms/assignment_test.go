package rooms

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/wire"
)

// TestAssignmentWithoutBackupsIsUnchanged: with no backups and no
// delegation the payload is byte for byte what nodes before them signed,
// so they keep accepting it.
func TestAssignmentWithoutBackupsIsUnchanged(t *testing.T) {
	c := newCast(t)
	room, _ := NewRoomID()
	a, err := Assign(c.keys["H"], room, c.id("L"), c.id("S"), t0)
	if err != nil {
		t.Fatal(err)
	}
	type before struct {
		V       int    `cbor:"0,keyasint"`
		Room    []byte `cbor:"1,keyasint"`
		Host    []byte `cbor:"2,keyasint"`
		Child   []byte `cbor:"3,keyasint"`
		Parent  []byte `cbor:"4,keyasint"`
		Expires int64  `cbor:"5,keyasint"`
	}
	want, err := wire.Marshal(before{V: Version, Room: room.bytes(), Host: []byte(c.id("H")), Child: []byte(c.id("L")),
		Parent: []byte(c.id("S")), Expires: millis(a.Expires)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.MarshalRecord()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("payload changed:\n got %x\nwant %x", got, want)
	}
}

func TestBackupAssignment(t *testing.T) {
	c := newCast(t)
	room, _ := NewRoomID()
	h, l, s := c.id("H"), c.id("L"), c.id("S")
	backups := []peer.ID{c.id("M"), c.id("N")}
	a, err := AssignWithBackups(c.keys["H"], room, l, s, backups, t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseAssignment(a.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "backups", got.Backups, backups)
	later := t0.Add(10 * time.Minute) // the assignment itself has expired
	for _, b := range backups {
		if err := got.CheckBackup(room, h, l, b, later); err != nil {
			t.Fatalf("backup %s refused: %v", b, err)
		}
	}
	for name, tc := range map[string]struct {
		child, parent peer.ID
		now           time.Time
		want          error
	}{
		"not a backup":      {l, c.id("T"), t0, ErrNotAllowed},
		"the parent itself": {l, s, t0, ErrNotAllowed},
		"other child":       {c.id("U"), c.id("M"), t0, ErrNotAllowed},
		"expired":           {l, c.id("M"), t0.Add(BackupLifetime + time.Hour), ErrExpired},
	} {
		if err := got.CheckBackup(room, h, tc.child, tc.parent, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// a backup is not a primary assignment
	if err := got.Check(room, h, l, c.id("M"), t0); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("backup as primary: %v", err)
	}
	for name, bs := range map[string][]peer.ID{"child": {l}, "parent": {s}, "twice": {c.id("M"), c.id("M")},
		"too many": {c.id("M"), c.id("N"), c.id("T"), c.id("U")}} {
		if _, err := AssignWithBackups(c.keys["H"], room, l, s, bs, t0); !errors.Is(err, ErrMalformed) {
			t.Errorf("backups naming %s: %v", name, err)
		}
	}
}

func TestDelegatedAssignment(t *testing.T) {
	c := newCast(t)
	room, _ := NewRoomID()
	h, d, l := c.id("H"), c.id("M"), c.id("L")
	del, err := Delegate(c.keys["H"], room, d, t0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := AssignDelegated(c.keys["M"], del, l, c.id("S"), []peer.ID{c.id("T")}, t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseAssignment(a.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if got.Placer() != d || got.Host != h {
		t.Fatalf("placer %s host %s", got.Placer(), got.Host)
	}
	if err := got.Check(room, h, l, c.id("S"), t0); err != nil {
		t.Fatalf("delegated assignment refused: %v", err)
	}
	if err := got.CheckBackup(room, h, l, c.id("T"), t0.Add(DelegationLifetime+time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("backup under an expired delegation: %v", err)
	}
	// after a takeover the old host's delegation is void
	if err := got.Check(room, c.id("N"), l, c.id("S"), t0); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("under another host: %v", err)
	}
	if _, err := AssignDelegated(c.keys["N"], del, l, c.id("S"), nil, t0); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("signed by someone else than the delegate: %v", err)
	}
	// someone else's delegation does not let N sign
	forged := a.Assignment
	data, err := seal(&forged, c.keys["N"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseAssignment(data); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("assignment signed by a non-delegate: %v", err)
	}
	// a delegation must be the current host's own
	fake, err := Delegate(c.keys["N"], room, d, t0)
	if err != nil {
		t.Fatal(err)
	}
	if a, err = AssignDelegated(c.keys["M"], fake, l, c.id("S"), nil, t0); err != nil {
		t.Fatal(err)
	}
	if got, err = ParseAssignment(a.Bytes); err != nil {
		t.Fatal(err)
	}
	if err := got.Check(room, h, l, c.id("S"), t0); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("delegation by a non-host: %v", err)
	}
}

func TestRefer(t *testing.T) {
	ps := fakePeers(3, rand.New(rand.NewPCG(9, 9)))
	near := Traits{Coord: Coord{X: 0}, HasCoord: true}
	ds := []DelegateLoad{
		{ID: ps[0], Subtree: 100, Coord: Coord{X: 100}, HasCoord: true},
		{ID: ps[1], Subtree: 110, Coord: Coord{X: 5}, HasCoord: true},
		{ID: ps[2], Subtree: 400, Capacity: 1000, Coord: Coord{X: 1}, HasCoord: true},
	}
	if got, _ := Refer(ds, near); got != ps[1] {
		t.Fatalf("referred to %s, want the nearest not overloaded", got)
	}
	if got, _ := Refer(ds, Traits{}); got != ps[0] {
		t.Fatalf("no coordinate: %s, want the least loaded", got)
	}
	ds[0].Capacity, ds[1].Capacity, ds[2].Capacity = 100, 110, 400
	if _, ok := Refer(ds, near); ok {
		t.Fatal("referred to a full delegate")
	}
}
