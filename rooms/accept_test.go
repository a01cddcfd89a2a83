package rooms

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestAccept(t *testing.T) {
	c := newCast(t)
	cases, s2, takeover := acceptCases(t, c)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Accept(tc.prev, tc.next)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
	checkAfterTakeover(t, c, s2, takeover)
}

// acceptCase is a state a participant holds, the one it is given next,
// and what Accept must say.
type acceptCase struct {
	name       string
	prev, next *SignedState
	want       error
}

// acceptCases are the cases of TestAccept, with the room's state s2 they
// mostly start from and a moderator's takeover of it.
func acceptCases(t *testing.T, c *cast) (cases []acceptCase, s2, takeover State) {
	s1 := c.room(t)
	s1.Banned = []peer.ID{c.id("X")}
	v1 := c.sign(t, "H", s1)
	s2 = mustApply(t, s1, c.req(s1, "L", KindRaiseHand, ""), member)
	v2 := c.sign(t, "H", s2)
	s3 := mustApply(t, s2, c.req(s2, "O", KindJoin, ""), member)
	v3 := c.sign(t, "H", s3)

	// sign makes a state from prev by f, signed by who.
	sign := func(who string, prev State, f func(*State)) *SignedState {
		n := prev.Clone()
		n.Version++
		f(&n)
		return c.sign(t, who, n)
	}
	// A listener that names itself host: a valid document, signed by the
	// host it names, but not a host any participant should accept.
	usurper := sign("L", s2, func(n *State) {
		n.Audience = without(n.Audience, c.id("L"))
		n.Hands = nil
		n.Speakers = append(n.Speakers, Speaker{Peer: c.id("L")})
		n.Moderators = append(n.Moderators, c.id("L"))
		n.Host = c.id("L")
	})
	takeover, err := Takeover(s2, c.id("N"), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ended := mustApply(t, s2, c.req(s2, "H", KindEnd, ""), member)
	otherRoom := c.room(t)
	otherRoom.Version = 9

	return []acceptCase{
		{"next version", v1, v2, nil},
		{"skipped versions", v1, v3, nil},
		{"first state", nil, v1, nil},
		{"replay", v2, v1, ErrStaleVersion},
		{"same again", v2, v2, ErrStaleVersion},
		{"equivocation", v2, sign("H", s1, func(n *State) { n.Hands = []peer.ID{c.id("U")} }), ErrStaleVersion},
		{"other room", v1, c.sign(t, "H", otherRoom), ErrUnknownRoom},
		{"listener names itself host", v2, usurper, ErrNotAllowed},
		{"moderator takes over", v2, c.sign(t, "N", takeover), nil},
		{"ended", v2, c.sign(t, "H", ended), nil},
		{"after the end", c.sign(t, "H", ended), sign("H", ended, func(n *State) { n.Status = StatusLive }), ErrRoomEnded},
		{"back to scheduled", v2, sign("H", s2, func(n *State) { n.Status = StatusScheduled }), ErrNotAllowed},
		{"unban", v2, sign("H", s2, func(n *State) { n.Banned = nil }), ErrNotAllowed},
		{"new title", v2, sign("H", s2, func(n *State) { n.Title = "Early-morning Go" }), ErrNotAllowed},
		{"new type", v2, sign("H", s2, func(n *State) { n.Type = TypeClosed }), ErrNotAllowed},
		{"new creator", v2, sign("H", s2, func(n *State) { n.Creator = c.id("M") }), ErrNotAllowed},
		{"none", v2, nil, ErrMalformed},
	}, s2, takeover
}

// checkAfterTakeover: the new host's next state follows normally; the
// old host, a moderator now, cannot go on with its old history.
func checkAfterTakeover(t *testing.T, c *cast, s2, takeover State) {
	t.Helper()
	// A takeover's next state, signed by the new host, follows normally.
	// The old host is a moderator now: a state it signs as host of its
	// old history (a host that was only out of reach) is refused, as the
	// history of any other non-host would be, unless it is a takeover in
	// its own right.
	after := c.sign(t, "N", takeover)
	s4 := mustApply(t, takeover, c.req(takeover, "N", KindInviteSpeaker, "U"), member)
	if err := Accept(after, c.sign(t, "N", s4)); err != nil {
		t.Fatal(err)
	}
	if !takeover.IsModerator(c.id("H")) || !takeover.Muted(c.id("H")) {
		t.Fatalf("after the takeover the old host is a %s (muted %v); want a muted moderator",
			takeover.RoleOf(c.id("H")), takeover.Muted(c.id("H")))
	}
	old := s2.Clone()
	old.Version = after.Version - 1
	wantErr(t, Accept(after, c.sign(t, "H", old)), ErrStaleVersion)
}

func TestSuccessor(t *testing.T) {
	c := newCast(t)
	s := c.room(t) // moderators H, M, N in the order appointed
	// Appointment order decides, not peer ID order: make the later
	// appointee sort first and check it still waits its turn.
	if c.id("N") > c.id("M") {
		s.Moderators[1], s.Moderators[2] = s.Moderators[2], s.Moderators[1]
	}
	first, second := s.Moderators[1], s.Moderators[2]
	if got, ok := Successor(s); !ok || got != first {
		t.Fatalf("successor %s, %v; want %s (appointed first)", got, ok, first)
	}
	mustEqual(t, "successors", Successors(s), []peer.ID{first, second})

	// The first successor died with the host: the second takes over.
	taken, err := Takeover(s, second, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if taken.Host != second || !taken.IsModerator(c.id("H")) || taken.Version != s.Version+(MaxStage-1)*takeoverStep {
		t.Fatalf("takeover: host %s, old host a moderator %v, version %d", taken.Host, taken.IsModerator(c.id("H")), taken.Version)
	}
	// The old host is the last in line now: a host that is really gone
	// must not hold up the next takeover.
	if succ := Successors(taken); succ[len(succ)-1] != c.id("H") {
		t.Fatalf("successors after the takeover: %v; the old host should be last", succ)
	}
	if err := taken.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"S", "L", "O"} {
		_, err := Takeover(s, c.id(who), t0)
		wantErr(t, err, ErrNotAllowed)
	}
	_, err = Takeover(s, c.id("H"), t0)
	wantErr(t, err, ErrNoChange)

	alone, err := NewState(RoomConfig{Network: testNetwork, Host: c.id("H"), Title: "Alone", Type: TypeOpen, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := Successor(alone); ok {
		t.Fatalf("successor %s in a room with no other moderator", got)
	}
	alone.Status = StatusEnded
	_, err = Takeover(alone, c.id("M"), t0)
	wantErr(t, err, ErrRoomEnded)
}

// Two moderators both decide the host is dead and both sign a takeover of
// the same state. Whichever arrives first, everyone ends with the earlier
// successor as host: the later one's state is refused after the earlier
// one's, and the earlier one's is accepted after the later one's, even when
// the later successor has already applied a few requests as host.
func TestCompetingTakeovers(t *testing.T) {
	c := newCast(t)
	s := c.room(t) // successors M, then N
	prev := c.sign(t, "H", s)
	byM, err := Takeover(s, c.id("M"), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	byN, err := Takeover(s, c.id("N"), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	first, second := c.sign(t, "M", byM), c.sign(t, "N", byN)
	// N, as host, goes on with a few requests before M's state reaches it.
	later := byN
	for _, kind := range []Kind{KindRaiseHand, KindLowerHand, KindRaiseHand} {
		later = mustApply(t, later, c.req(later, "L", kind, ""), member)
	}
	laterSigned := c.sign(t, "N", later)

	for _, tc := range []struct {
		name string
		held *SignedState
	}{{"held the old host's state", prev}, {"held N's takeover", second}, {"held N's later state", laterSigned}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Accept(tc.held, first); err != nil {
				t.Fatalf("M's takeover refused: %v", err)
			}
		})
	}
	wantErr(t, Accept(first, second), ErrStaleVersion)
	wantErr(t, Accept(first, laterSigned), ErrStaleVersion)
	// The old host's own later states cannot come back either.
	after := mustApply(t, s, c.req(s, "L", KindRaiseHand, ""), member)
	wantErr(t, Accept(first, c.sign(t, "H", after)), ErrStaleVersion)
}
