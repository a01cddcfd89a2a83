package roomnet

import (
	"errors"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/rooms"
)

// children are n child links' counters, sent packets each, the first
// lossy of them having lost lost packets each.
func children(n, lossy int, sent uint64, lost int64) []rtc.LinkStats {
	out := make([]rtc.LinkStats, n)
	for i := range out {
		out[i] = rtc.LinkStats{LinkLabel: rtc.LinkLabel{Room: "r", Peer: string(rune('a' + i))}, Role: rtc.RoleChild,
			PacketsSent: sent}
		if i < lossy {
			out[i].RemoteLost = lost
		}
	}
	return out
}

// NACKs count as loss too: retransmissions may repair what a saturated
// uplink drops, and the receiver reports then say little.
func TestUplinkGuardCountsNACKs(t *testing.T) {
	g := newUplinkGuard(4)
	now := time.Unix(1000, 0)
	g.observe(now, children(3, 0, 0, 0))
	links := children(3, 0, 100, 0)
	for i := range links {
		links[i].NACKsReceived = 15
	}
	if !g.observe(now.Add(uplinkWindow), links) || g.capacity() != 2 {
		t.Fatalf("15 %% NACKed on every child: capacity %d, want 2", g.capacity())
	}
}

// Loss the relay has from its own parent reaches all its children: it is
// not the uplink's.
func TestUplinkGuardDiscountsUpstreamLoss(t *testing.T) {
	g := newUplinkGuard(4)
	now := time.Unix(1000, 0)
	parent := func(received uint64, lost int64) rtc.LinkStats {
		return rtc.LinkStats{LinkLabel: rtc.LinkLabel{Room: "r", Peer: "up"}, Role: rtc.RoleParent,
			PacketsReceived: received, PacketsLost: lost}
	}
	g.observe(now, append(children(3, 0, 0, 0), parent(0, 0)))
	// the parent link lost 10 %, and so did every child: nothing changes
	if g.observe(now.Add(uplinkWindow), append(children(3, 3, 100, 10), parent(100, 10))) || g.capacity() != 4 {
		t.Fatalf("upstream loss: capacity %d, want 4", g.capacity())
	}
	// the children lose 20 % more than that: the uplink
	if !g.observe(now.Add(2*uplinkWindow), append(children(3, 3, 200, 40), parent(200, 20))) || g.capacity() != 2 {
		t.Fatalf("loss beyond the upstream's: capacity %d, want 2", g.capacity())
	}
}

// Loss on most of a relay's children at once shrinks its capacity below
// the children it has; loss on one child does not; the capacity grows
// back one child per quiet uplinkGrowEvery, up to what it declared.
func TestUplinkGuardShrinksOnSharedLoss(t *testing.T) {
	g := newUplinkGuard(6)
	now := time.Unix(1000, 0)
	g.observe(now, children(4, 0, 0, 0))
	// one bad child: its own network
	if g.observe(now.Add(uplinkWindow), children(4, 1, 100, 30)) || g.capacity() != 6 {
		t.Fatalf("one lossy child of four: capacity %d, want 6", g.capacity())
	}
	// all four lose 10 %: the uplink
	now = now.Add(2 * uplinkWindow)
	if !g.observe(now, children(4, 4, 200, 40)) || g.capacity() != 3 {
		t.Fatalf("every child lossy: capacity %d, want 3 (one fewer than its 4 children)", g.capacity())
	}
	// quiet windows: nothing until uplinkGrowEvery, then one at a time
	g.observe(now.Add(uplinkWindow), children(4, 4, 300, 40))
	if g.capacity() != 3 {
		t.Fatalf("grew back at once: %d", g.capacity())
	}
	g.observe(now.Add(uplinkGrowEvery), children(4, 4, 400, 40))
	g.observe(now.Add(uplinkGrowEvery+uplinkWindow), children(4, 4, 500, 40))
	if g.capacity() != 4 {
		t.Fatalf("after %s quiet: capacity %d, want 4", uplinkGrowEvery, g.capacity())
	}
	// windows with no traffic lose nothing either: it grows back to what
	// it declared
	for i := range 10 {
		g.observe(now.Add(2*uplinkGrowEvery+time.Duration(i)*uplinkGrowEvery), children(4, 4, 500, 40))
	}
	if g.capacity() != 6 {
		t.Fatalf("capacity %d after long quiet, want the declared 6", g.capacity())
	}
}

// The host refuses a capacity report out of range before it looks at any
// room.
func TestCapacityReportRange(t *testing.T) {
	room, err := rooms.NewRoomID()
	if err != nil {
		t.Fatal(err)
	}
	m := &media{}
	for _, c := range []int{-1, rooms.MaxRelayCapacity + 1} {
		if _, err := m.serveCapacity(t.Context(), "", capacityReport{Room: string(room), Capacity: c}); !errors.Is(err, rooms.ErrMalformed) {
			t.Errorf("capacity %d: %v, want ErrMalformed", c, err)
		}
	}
	if _, err := m.serveCapacity(t.Context(), "", capacityReport{Room: "nope", Capacity: 1}); err == nil {
		t.Error("a report for no room was taken")
	}
}
