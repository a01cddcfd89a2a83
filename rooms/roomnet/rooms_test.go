package roomnet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// Five members go through a room's whole life through the same calls the
// node's API makes.
func TestRoomLifecycle(t *testing.T) {
	ms := startMembers(t, 5)
	host, a, b, c, d := ms[0], ms[1], ms[2], ms[3], ms[4]
	ctx := context.Background()

	st, err := host.rooms.Create(ctx, "Late-night Go", rooms.TypeOpen, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	for _, m := range ms {
		sees(t, m, id, true)
	}
	for _, m := range []*member{a, b, c, d} {
		if _, err := m.rooms.Request(ctx, id, rooms.KindJoin, "", nil); err != nil {
			t.Fatalf("%s joins: %v", m.id, err)
		}
	}
	hasState(t, a, id, "four listeners", func(s *rooms.SignedState) bool { return len(s.Audience) == 4 })

	start := time.Now()
	if _, err := a.rooms.Request(ctx, id, rooms.KindRaiseHand, "", nil); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		hasState(t, m, id, "a's hand up", func(s *rooms.SignedState) bool { return s.HandRaised(a.id) })
	}
	t.Logf("request to every participant seeing the new state: %s", time.Since(start))

	mustRequest(t, host, id, rooms.KindInviteSpeaker, a)
	mustRequest(t, a, id, rooms.KindAcceptInvite, nil)
	hasState(t, b, id, "a on stage", func(s *rooms.SignedState) bool { return s.OnStage(a.id) })
	mustRequest(t, a, id, rooms.KindUnmuteSelf, nil) // speakers come up muted
	hasState(t, c, id, "a unmuted", func(s *rooms.SignedState) bool { return !s.Muted(a.id) })
	mustRequest(t, host, id, rooms.KindMute, a)
	hasState(t, c, id, "a muted", func(s *rooms.SignedState) bool { return s.Muted(a.id) })
	mustRequest(t, host, id, rooms.KindMoveToAudience, a)
	hasState(t, c, id, "a back in the audience", func(s *rooms.SignedState) bool { return !s.OnStage(a.id) && s.InRoom(a.id) })

	// A listener cannot use a moderator's powers; nothing changes.
	before, _ := host.rooms.State(id)
	if _, err := b.rooms.Request(ctx, id, rooms.KindRemove, c.id, nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("listener removing someone: %v", err)
	}
	if after, _ := host.rooms.State(id); after.Version != before.Version {
		t.Fatal("a refused request changed the state")
	}

	mustRequest(t, host, id, rooms.KindRemove, d)
	hasState(t, c, id, "d removed", func(s *rooms.SignedState) bool { return !s.InRoom(d.id) && s.IsBanned(d.id) })
	if _, err := d.rooms.Request(ctx, id, rooms.KindJoin, "", nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("removed member rejoining: %v", err)
	}

	mustRequest(t, host, id, rooms.KindInviteSpeaker, b)
	mustRequest(t, b, id, rooms.KindAcceptInvite, nil)
	mustRequest(t, host, id, rooms.KindMakeModerator, b)
	hasState(t, c, id, "b moderator", func(s *rooms.SignedState) bool { return s.IsModerator(b.id) })

	mustRequest(t, host, id, rooms.KindEnd, nil)
	for _, m := range ms {
		sees(t, m, id, false)
	}
}

// When the host's node dies, the first successor takes over; listeners
// follow the new host and the room stays in the hallway.
func TestModeratorTakesOver(t *testing.T) {
	ms := startMembers(t, 3)
	host, mod, listener := ms[0], ms[1], ms[2]
	ctx := context.Background()
	st, err := host.rooms.Create(ctx, "Survivors", rooms.TypeOpen, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	sees(t, mod, id, true)
	sees(t, listener, id, true)
	mustRequest(t, mod, id, rooms.KindJoin, nil)
	mustRequest(t, listener, id, rooms.KindJoin, nil)
	mustRequest(t, host, id, rooms.KindInviteSpeaker, mod)
	mustRequest(t, mod, id, rooms.KindAcceptInvite, nil)
	mustRequest(t, host, id, rooms.KindMakeModerator, mod)
	hasState(t, listener, id, "mod is a moderator", func(s *rooms.SignedState) bool { return s.IsModerator(mod.id) })

	died := time.Now()
	host.close()
	hasState(t, listener, id, "mod took over", func(s *rooms.SignedState) bool { return s.Host == mod.id })
	t.Logf("takeover seen by a listener %s after the host died", time.Since(died))
	testutil.Eventually(t, 10*time.Second, func() error {
		if a, ok := listener.rooms.dir.Get(id); !ok || a.Host != mod.id {
			return errors.New("the hallway does not show the new host")
		}
		return nil
	})
}

func mustRequest(t *testing.T, m *member, id rooms.RoomID, kind rooms.Kind, target *member) {
	t.Helper()
	var to peerID
	if target != nil {
		to = target.id
	}
	if _, err := m.rooms.Request(context.Background(), id, kind, to, nil); err != nil {
		t.Fatalf("%s %s: %v", m.id, kind, err)
	}
}
