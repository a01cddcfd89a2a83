package roomnet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// knows waits until m's directory holds room id, whether or not m may see
// it: a room missing from m's hallway then means it is hidden, not late.
func knows(t *testing.T, m *member, id rooms.RoomID) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok := m.rooms.dir.Get(id); !ok {
			return fmt.Errorf("%s has not heard of room %s", m.id, id)
		}
		return nil
	})
}

func listed(m *member, id rooms.RoomID) bool {
	for _, a := range m.rooms.Hallway(m.viewer()) {
		if a.Room == id {
			return true
		}
	}
	return false
}

// refused checks that a request was refused by the host for the reason
// given.
func refused(t *testing.T, err error, because string) {
	t.Helper()
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), because) {
		t.Fatalf("want a refusal saying %q, got %v", because, err)
	}
}

// A social room is listed to, and admits, the members its host follows;
// a member the host starts following sees it within an announce interval.
func TestSocialRoomForFollowedOnly(t *testing.T) {
	ms := startMembers(t, 3)
	host, friend, stranger := ms[0], ms[1], ms[2]
	ctx := context.Background()
	host.owner.set(host.owner.follows, friend.id, true)
	st, err := host.rooms.Create(ctx, "Friends only", rooms.TypeSocial, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	sees(t, friend, id, true)
	knows(t, stranger, id)
	if listed(stranger, id) {
		t.Fatal("a member the host does not follow sees its social room")
	}
	mustRequest(t, friend, id, rooms.KindJoin, nil)
	// The stranger knows the room's ID (from its directory): the host
	// still refuses it.
	_, err = stranger.rooms.Request(ctx, id, rooms.KindJoin, "", nil)
	refused(t, err, "the host does not follow")

	host.owner.set(host.owner.follows, stranger.id, true)
	sees(t, stranger, id, true)
	mustRequest(t, stranger, id, rooms.KindJoin, nil)
}

// A closed room is listed to the holder of a ticket its host delivered, who
// joins with it without handling it; others neither see it nor get in.
func TestClosedRoomTickets(t *testing.T) {
	ms := startMembers(t, 3)
	host, holder, other := ms[0], ms[1], ms[2]
	ctx := context.Background()
	st, err := host.rooms.Create(ctx, "Invitation only", rooms.TypeClosed, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	for _, m := range []*member{holder, other} {
		knows(t, m, id)
		if listed(m, id) {
			t.Fatalf("%s sees a closed room without a ticket", m.id)
		}
	}
	ticket, err := rooms.IssueTicket(host.key, id, holder.id, time.Now().Add(time.Hour), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := host.rooms.DeliverTicket(ctx, ticket); err != nil {
		t.Fatal(err)
	}
	if !listed(holder, id) {
		t.Fatal("the ticket holder does not see the closed room")
	}
	mustRequest(t, holder, id, rooms.KindJoin, nil) // the kept ticket is presented
	_, err = other.rooms.Request(ctx, id, rooms.KindJoin, "", nil)
	refused(t, err, "has no ticket")

	// A ticket that the room's host did not issue is not kept, and one
	// for a room the holder never heard of neither.
	forged, err := rooms.IssueTicket(holder.key, id, other.id, time.Now().Add(time.Hour), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = holder.rooms.DeliverTicket(ctx, forged)
	refused(t, err, "neither the room's host nor its creator")
	nowhere, _ := rooms.NewRoomID()
	stray, err := rooms.IssueTicket(host.key, nowhere, other.id, time.Now().Add(time.Hour), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	refused(t, host.rooms.DeliverTicket(ctx, stray), "not in this node's hallway")
	if other.owner.Ticket(id) != nil || other.owner.Ticket(nowhere) != nil || listed(other, id) {
		t.Fatal("a refused ticket was kept")
	}
}

// A member blocked by a moderator cannot join the room: the moderator's
// node gives its block list to the host when it becomes moderator and
// again when its owner blocks or unblocks.
func TestModeratorsBlockKeepsOut(t *testing.T) {
	ms := startMembers(t, 4)
	host, mod, pest, late := ms[0], ms[1], ms[2], ms[3]
	ctx := context.Background()
	st, err := host.rooms.Create(ctx, "Moderated", rooms.TypeOpen, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	for _, m := range ms[1:] {
		knows(t, m, id)
	}
	mod.owner.set(mod.owner.blocks, pest.id, true) // before being a moderator
	mustRequest(t, mod, id, rooms.KindJoin, nil)
	mustRequest(t, host, id, rooms.KindInviteSpeaker, mod)
	mustRequest(t, mod, id, rooms.KindAcceptInvite, nil)
	mustRequest(t, host, id, rooms.KindMakeModerator, mod)
	testutil.Eventually(t, 10*time.Second, func() error {
		if len(host.rooms.blockedBy(id, pest.id)) == 0 {
			return errors.New("the host has not received the new moderator's block list")
		}
		return nil
	})
	_, err = pest.rooms.Request(ctx, id, rooms.KindJoin, "", nil)
	refused(t, err, "a moderator of this room")

	// Blocking someone later reaches the host before the block returns.
	mod.owner.set(mod.owner.blocks, late.id, true)
	if err := mod.rooms.BlocksChanged(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = late.rooms.Request(ctx, id, rooms.KindJoin, "", nil)
	refused(t, err, "a moderator of this room")

	// A list read before that block (the send begun when the node first
	// saw itself moderator) that reaches the host only now is older than
	// the one it holds, and does not undo the block.
	stale := blocksMsg{Room: string(id), Blocked: [][]byte{[]byte(pest.id)}, Number: 1}
	if _, err := blocksProto.Call(ctx, mod.rooms.host(), host.id, stale); err != nil {
		t.Fatal(err)
	}
	_, err = late.rooms.Request(ctx, id, rooms.KindJoin, "", nil)
	refused(t, err, "a moderator of this room")

	// And so does unblocking.
	mod.owner.set(mod.owner.blocks, pest.id, false)
	if err := mod.rooms.BlocksChanged(ctx); err != nil {
		t.Fatal(err)
	}
	mustRequest(t, pest, id, rooms.KindJoin, nil)

	// Only a moderator's list counts: a listener's is refused.
	_, err = blocksProto.Call(ctx, pest.rooms.host(), host.id, blocksMsg{Room: string(id), Blocked: [][]byte{[]byte(late.id)}})
	refused(t, err, "is not a moderator")
}
