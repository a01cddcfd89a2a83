package rooms

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The issue's five-member story, on the pure core: join, hand up, invite,
// accept, mute, move to audience, remove (and no rejoin), make-moderator,
// end.
func TestApplyStory(t *testing.T) {
	c := newCast(t)
	s, err := NewState(RoomConfig{Network: testNetwork, Host: c.id("H"), Title: "Story", Type: TypeOpen, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	step := func(from string, k Kind, target string) {
		t.Helper()
		next := mustApply(t, s, c.req(s, from, k, target), member)
		if next.Version != s.Version+1 {
			t.Fatalf("%s: version %d after %d", k, next.Version, s.Version)
		}
		s = next
	}
	for _, p := range []string{"M", "L", "U"} {
		step(p, KindJoin, "")
	}
	mustEqual(t, "audience", s.Audience, []peer.ID{c.id("M"), c.id("L"), c.id("U")})

	step("L", KindRaiseHand, "")
	step("U", KindRaiseHand, "")
	mustEqual(t, "hands in the order raised", s.Hands, []peer.ID{c.id("L"), c.id("U")})
	step("H", KindInviteSpeaker, "L")
	if s.RoleOf(c.id("L")) != RoleInvited || s.HandRaised(c.id("L")) {
		t.Fatalf("invited L: role %s, hand %v", s.RoleOf(c.id("L")), s.HandRaised(c.id("L")))
	}
	step("L", KindAcceptInvite, "")
	if s.RoleOf(c.id("L")) != RoleSpeaker || !s.Muted(c.id("L")) {
		t.Fatalf("L accepted: role %s, muted %v; want a muted speaker", s.RoleOf(c.id("L")), s.Muted(c.id("L")))
	}
	step("L", KindUnmuteSelf, "")
	step("H", KindMute, "L")
	if !s.Muted(c.id("L")) {
		t.Fatal("the host muted L, but L is not muted")
	}
	step("H", KindMoveToAudience, "L")
	if s.RoleOf(c.id("L")) != RoleListener {
		t.Fatalf("L moved to the audience is a %s", s.RoleOf(c.id("L")))
	}
	step("H", KindRemove, "U")
	if s.InRoom(c.id("U")) || !s.IsBanned(c.id("U")) {
		t.Fatal("removed U is still in the room or not banned")
	}
	_, err = Apply(s, c.req(s, "U", KindJoin, ""), member)
	wantErr(t, err, ErrBanned)

	step("H", KindInviteSpeaker, "M")
	step("M", KindAcceptInvite, "")
	step("H", KindMakeModerator, "M")
	if s.RoleOf(c.id("M")) != RoleModerator {
		t.Fatalf("M is a %s", s.RoleOf(c.id("M")))
	}
	step("M", KindEnd, "")
	if s.Status != StatusEnded {
		t.Fatalf("status %s after end", s.Status)
	}
	_, err = Apply(s, c.req(s, "L", KindLeave, ""), member)
	wantErr(t, err, ErrRoomEnded)
	// Every version of the story signs and parses.
	if _, err := ParseState(c.sign(t, "H", s).Bytes); err != nil {
		t.Fatal(err)
	}
}

func TestApplyAdmission(t *testing.T) {
	c := newCast(t)
	base := c.room(t)
	hostTicket, err := IssueTicket(c.keys["H"], base.Room, c.id("O"), t0.Add(time.Hour), t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		typ  RoomType
		adm  Admission
		want error
	}{
		{"open member", TypeOpen, member, nil},
		{"not a member", TypeOpen, Admission{}, ErrNotAdmitted},
		{"blocked by the host", TypeOpen, Admission{Member: true, BlockedBy: []peer.ID{c.id("H")}}, ErrNotAdmitted},
		{"blocked by a moderator", TypeOpen, Admission{Member: true, BlockedBy: []peer.ID{c.id("X"), c.id("N")}}, ErrNotAdmitted},
		{"blocked by a listener only", TypeOpen, Admission{Member: true, BlockedBy: []peer.ID{c.id("L")}}, nil},
		{"social, not followed", TypeSocial, member, ErrNotAdmitted},
		{"social, followed", TypeSocial, Admission{Member: true, Followed: true}, nil},
		{"closed, no ticket", TypeClosed, member, ErrNotAdmitted},
		{"closed, host's ticket", TypeClosed, Admission{Member: true, Ticket: hostTicket}, nil},
		{"closed, followed but no ticket", TypeClosed, Admission{Member: true, Followed: true}, ErrNotAdmitted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base.Clone()
			s.Type = tc.typ
			next, err := Apply(s, c.req(s, "O", KindJoin, ""), tc.adm)
			if tc.want != nil {
				wantErr(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if next.RoleOf(c.id("O")) != RoleListener {
				t.Fatalf("joined O is a %s", next.RoleOf(c.id("O")))
			}
		})
	}
}

func TestApplyClosedRoomTickets(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	s.Type = TypeClosed
	ticket := func(issuer, holder string, room RoomID, expires time.Time) *SignedTicket {
		tk, err := IssueTicket(c.keys[issuer], room, c.id(holder), expires, t0)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	other, _ := NewRoomID()
	for _, tc := range []struct {
		name string
		tk   *SignedTicket
		ok   bool
	}{
		{"host's", ticket("H", "O", s.Room, t0.Add(time.Hour)), true},
		{"someone else's", ticket("H", "X", s.Room, t0.Add(time.Hour)), false},
		{"another room's", ticket("H", "O", other, t0.Add(time.Hour)), false},
		{"expired", ticket("H", "O", s.Room, t0.Add(30*time.Second)), false},
		{"signed by a moderator", ticket("M", "O", s.Room, t0.Add(time.Hour)), false},
		{"signed by a stranger", ticket("X", "O", s.Room, t0.Add(time.Hour)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(s, c.req(s, "O", KindJoin, ""), Admission{Member: true, Ticket: tc.tk})
			if tc.ok != (err == nil) {
				t.Fatalf("ok %v, error %v", tc.ok, err)
			}
			if err != nil {
				wantErr(t, err, ErrNotAdmitted)
			}
		})
	}
	// After a takeover the creator's tickets still open the room, and the
	// new host's open it too.
	taken, err := Takeover(s, c.id("M"), t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, issuer := range []string{"H", "M"} {
		adm := Admission{Member: true, Ticket: ticket(issuer, "O", s.Room, t0.Add(time.Hour))}
		if _, err := Apply(taken, c.req(taken, "O", KindJoin, ""), adm); err != nil {
			t.Fatalf("ticket by %s after takeover: %v", issuer, err)
		}
	}
}

// Rules about whom an action is aimed at, beyond the requester's role.
func TestApplyTargetRules(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	muted := s.Clone()
	muted.Speakers[muted.speakerIndex(c.id("T"))].Muted = true
	for _, tc := range []struct {
		name         string
		s            State
		from, target string
		kind         Kind
		want         error
	}{
		{"moderator removes host", s, "M", "H", KindRemove, ErrNotAllowed},
		{"moderator removes moderator", s, "M", "N", KindRemove, ErrNotAllowed},
		{"moderator moves moderator down", s, "M", "N", KindMoveToAudience, ErrNotAllowed},
		{"moderator moves host down", s, "M", "H", KindMoveToAudience, ErrNotAllowed},
		{"moderator mutes host", s, "M", "H", KindMute, ErrNotAllowed},
		{"remove someone absent", s, "H", "O", KindRemove, ErrNotInRoom},
		{"invite someone absent", s, "H", "O", KindInviteSpeaker, ErrNotInRoom},
		{"invite a speaker", s, "H", "T", KindInviteSpeaker, ErrNoChange},
		{"invite the invited", s, "S", "I", KindInviteSpeaker, ErrNoChange},
		{"mute a listener", s, "H", "L", KindMute, ErrNotInRoom},
		{"mute the muted", muted, "H", "T", KindMute, ErrNoChange},
		{"move a listener down", s, "H", "L", KindMoveToAudience, ErrNotInRoom},
		{"make a listener moderator", s, "H", "L", KindMakeModerator, ErrNotInRoom},
		{"make a moderator moderator", s, "H", "N", KindMakeModerator, ErrNoChange},
		{"listener lowers a hand not raised", s, "L", "", KindLowerHand, ErrNoChange},
		{"speaker unmutes unmuted", s, "S", "", KindUnmuteSelf, ErrNoChange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(tc.s, c.req(tc.s, tc.from, tc.kind, tc.target), member)
			wantErr(t, err, tc.want)
		})
	}
	// The host outranks moderators.
	next := mustApply(t, s, c.req(s, "H", KindRemove, "N"), member)
	if next.InRoom(c.id("N")) || next.IsModerator(c.id("N")) || !next.IsBanned(c.id("N")) {
		t.Fatal("host removed moderator N, but N is still there")
	}
	next = mustApply(t, s, c.req(s, "H", KindMoveToAudience, "N"), member)
	if next.RoleOf(c.id("N")) != RoleListener {
		t.Fatalf("moderator moved to the audience is a %s, want a listener", next.RoleOf(c.id("N")))
	}
	// A moderator stepping down gives up moderating with the stage.
	next = mustApply(t, s, c.req(s, "N", KindStepDown, ""), member)
	if next.IsModerator(c.id("N")) || next.RoleOf(c.id("N")) != RoleListener {
		t.Fatal("moderator N stepped down but still moderates")
	}
	// A speaker's invitation stands, but a moderator can refuse it.
	next = mustApply(t, s, c.req(s, "S", KindInviteSpeaker, "U"), member)
	next = mustApply(t, next, c.req(next, "U", KindAcceptInvite, ""), member)
	next = mustApply(t, next, c.req(next, "M", KindMoveToAudience, "U"), member)
	if next.RoleOf(c.id("U")) != RoleListener {
		t.Fatalf("U is a %s", next.RoleOf(c.id("U")))
	}
	// Declining leaves the invitee a listener.
	next = mustApply(t, s, c.req(s, "I", KindDeclineInvite, ""), member)
	if next.RoleOf(c.id("I")) != RoleListener {
		t.Fatalf("I declined and is a %s", next.RoleOf(c.id("I")))
	}
}

func TestApplyHostLeaves(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	next := mustApply(t, s, c.req(s, "H", KindLeave, ""), member)
	if next.Host != c.id("M") || next.InRoom(c.id("H")) || next.Status != StatusLive {
		t.Fatalf("host left: host %s (want M), H in room %v, status %s", next.Host, next.InRoom(c.id("H")), next.Status)
	}
	// The successor signs the handover, and participants accept it.
	if err := Accept(c.sign(t, "H", s), c.sign(t, "M", next)); err != nil {
		t.Fatal(err)
	}
	// With no moderator left, the host's leaving ends the room.
	alone, err := NewState(RoomConfig{Network: testNetwork, Host: c.id("H"), Title: "Alone", Type: TypeOpen, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	ended := mustApply(t, alone, c.req(alone, "H", KindLeave, ""), member)
	if ended.Status != StatusEnded {
		t.Fatalf("last moderator left; status %s", ended.Status)
	}
}

func TestApplyRoomLifecycle(t *testing.T) {
	c := newCast(t)
	s, err := NewState(RoomConfig{Network: testNetwork, Host: c.id("H"), Title: "Later", Type: TypeOpen,
		Start: t0.Add(24 * time.Hour), Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != StatusScheduled {
		t.Fatalf("status %s", s.Status)
	}
	_, err = Apply(s, c.req(s, "O", KindJoin, ""), member)
	wantErr(t, err, ErrNotLive)
	live, err := GoLive(s, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, live, c.req(live, "O", KindJoin, ""), member)
	// A scheduled room can be cancelled.
	if cancelled := mustApply(t, s, c.req(s, "H", KindEnd, ""), member); cancelled.Status != StatusEnded {
		t.Fatal("end did not cancel a scheduled room")
	}
	// A request for another room is refused.
	other := c.req(s, "O", KindJoin, "")
	other.Room, _ = NewRoomID()
	_, err = Apply(live, other, member)
	wantErr(t, err, ErrUnknownRoom)
	// Updated follows requests but never goes back.
	late := c.req(live, "O", KindJoin, "")
	late.Time = t0.Add(-time.Hour)
	if next := mustApply(t, live, late, member); !next.Updated.Equal(live.Updated) {
		t.Fatalf("updated went back from %s to %s", live.Updated, next.Updated)
	}
	if _, err := NewState(RoomConfig{Network: testNetwork, Host: c.id("H"), Title: "Past", Type: TypeOpen, Start: t0.Add(-time.Hour), Now: t0}); err == nil {
		t.Fatal("a room scheduled in the past was created")
	}
}

func TestApplyLimits(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	fill := func(n int) []peer.ID {
		ids := make([]peer.ID, n)
		for i := range ids {
			ids[i] = peer.ID(fmt.Sprintf("fake-%d", i))
		}
		return ids
	}
	full := s.Clone()
	full.Audience = append(full.Audience, fill(MaxAudience-len(full.Audience))...)
	_, err := Apply(full, c.req(full, "O", KindJoin, ""), member)
	wantErr(t, err, ErrRoomFull)
	_, err = Apply(full, c.req(full, "S", KindStepDown, ""), member)
	wantErr(t, err, ErrRoomFull)

	hands := s.Clone()
	hands.Hands = fill(MaxHands)
	_, err = Apply(hands, c.req(hands, "L", KindRaiseHand, ""), member)
	wantErr(t, err, ErrRoomFull)

	stage := s.Clone()
	for _, p := range fill(MaxStage - len(stage.Speakers)) {
		stage.Speakers = append(stage.Speakers, Speaker{Peer: p})
	}
	_, err = Apply(stage, c.req(stage, "I", KindAcceptInvite, ""), member)
	wantErr(t, err, ErrRoomFull)
	if !slices.Contains(stage.Invited, c.id("I")) {
		t.Fatal("refused accept changed the state")
	}
}
