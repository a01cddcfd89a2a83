package rooms

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestPrune(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	gone := []peer.ID{c.id("L"), c.id("S"), c.id("H")} // the host is never pruned
	next, err := Prune(s, gone, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"L", "S"} {
		if next.InRoom(c.id(who)) {
			t.Errorf("%s is still in the room after being pruned", who)
		}
		if next.IsBanned(c.id(who)) {
			t.Errorf("%s was banned by a prune; it may come back", who)
		}
	}
	if next.Host != s.Host || next.Version != s.Version+1 {
		t.Fatalf("prune changed the host or skipped versions: host %s, version %d", next.Host, next.Version)
	}
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := Accept(c.sign(t, "H", s), c.sign(t, "H", next)); err != nil {
		t.Fatalf("participants refuse a pruned state: %v", err)
	}
	_, err = Prune(next, gone, t0.Add(2*time.Minute))
	wantErr(t, err, ErrNoChange)
}
