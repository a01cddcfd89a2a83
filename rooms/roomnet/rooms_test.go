package roomnet

import (
	"context"
	"errors"
	"fmt"
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

// Two moderators decide at the same moment that the host is dead and both
// take over: everyone, both of them included, settles on the successor
// appointed first.
func TestTwoModeratorsConverge(t *testing.T) {
	ms := startMembers(t, 4)
	host, first, second := ms[0], ms[1], ms[2] // ms[3] listens
	ctx := context.Background()
	id := openRoomForAll(t, ms, "Contested")
	for _, m := range []*member{first, second} {
		makeModerator(t, host, id, m)
	}
	for _, m := range ms[1:] {
		hasState(t, m, id, "both moderators", func(s *rooms.SignedState) bool { return s.IsModerator(second.id) })
	}
	host.close()
	// Both take over at once, each from the state it holds, before either
	// hears of the other.
	held1, _ := first.rooms.State(id)
	held2, _ := second.rooms.State(id)
	done := make(chan struct{})
	go func() {
		defer close(done)
		second.rooms.takeOver(ctx, held2)
	}()
	first.rooms.takeOver(ctx, held1)
	<-done
	for _, m := range ms[1:] {
		hasState(t, m, id, "the first successor hosts", func(s *rooms.SignedState) bool {
			return s.Host == first.id && s.IsModerator(second.id)
		})
		testutil.Eventually(t, 10*time.Second, func() error {
			if a, ok := m.rooms.dir.Get(id); !ok || a.Host != first.id {
				return fmt.Errorf("%s's hallway does not show the first successor as host", m.id)
			}
			return nil
		})
	}
	// The second's store no longer says it hosts the room, so a restart
	// would not end the room under the first.
	testutil.Eventually(t, 10*time.Second, func() error {
		second.owner.mu.Lock()
		defer second.owner.mu.Unlock()
		// Nothing stored is fine too: the second may have heard of the
		// first's takeover before its own was accepted anywhere.
		if st := second.owner.states[id]; st != nil && st.Host != first.id {
			return errors.New("the second successor's store still has it hosting the room")
		}
		return nil
	})
}

// With no moderator to take over, a dead host's room leaves the hallway
// and its listeners let go of it.
func TestRoomWithoutModeratorEnds(t *testing.T) {
	ms := startMembers(t, 2)
	host, listener := ms[0], ms[1]
	ctx := context.Background()
	st, err := host.rooms.Create(ctx, "Solo", rooms.TypeOpen, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	sees(t, listener, id, true)
	mustRequest(t, listener, id, rooms.KindJoin, nil)
	died := time.Now()
	host.close()
	sees(t, listener, id, false)
	t.Logf("room gone from the listener's hallway %s after its host died", time.Since(died))
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok := listener.rooms.State(id); ok {
			return errors.New("the listener still holds the abandoned room")
		}
		return nil
	})
	t.Logf("the listener let go of the room %s after its host died", time.Since(died))
}

// A host whose rooms service stops but whose node still answers (as a
// host too loaded to be heard would) keeps its listeners: they let go of a
// silent room only when the host does not answer a ping either.
func TestSilentButAliveHostKeepsListeners(t *testing.T) {
	ms := startMembers(t, 2)
	host, listener := ms[0], ms[1]
	ctx := context.Background()
	st, err := host.rooms.Create(ctx, "Quiet", rooms.TypeOpen, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	sees(t, listener, id, true)
	mustRequest(t, listener, id, rooms.KindJoin, nil)
	host.once.Do(host.rooms.Close) // silent from now on; the node stays up
	t.Cleanup(func() { host.p2p.Close() })
	silent := time.Now()
	// The listener pings the host once the silence is long enough, and
	// counts the answer as hearing from it.
	testutil.Eventually(t, 15*time.Second, func() error {
		listener.rooms.mu.Lock()
		defer listener.rooms.mu.Unlock()
		r, ok := listener.rooms.rooms[id]
		if !ok {
			t.Fatal("the listener let go of a room whose host answers")
		}
		if !r.lastHeard.After(silent.Add(2 * time.Second)) {
			return errors.New("the listener has not checked on the silent host yet")
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

// openRoomForAll has ms[0] host an open room titled title that every other
// member of ms sees and joins.
func openRoomForAll(t *testing.T, ms []*member, title string) rooms.RoomID {
	t.Helper()
	st, err := ms[0].rooms.Create(context.Background(), title, rooms.TypeOpen, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[1:] {
		sees(t, m, st.Room, true)
		mustRequest(t, m, st.Room, rooms.KindJoin, nil)
	}
	return st.Room
}

// makeModerator has host bring m on stage and make it a moderator.
func makeModerator(t *testing.T, host *member, id rooms.RoomID, m *member) {
	t.Helper()
	mustRequest(t, host, id, rooms.KindInviteSpeaker, m)
	mustRequest(t, m, id, rooms.KindAcceptInvite, nil)
	mustRequest(t, host, id, rooms.KindMakeModerator, m)
}
