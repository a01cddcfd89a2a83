package roomnet

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// hallwayStatus waits until m's directory shows room id with status want.
func hallwayStatus(t *testing.T, m *member, id rooms.RoomID, want rooms.Status) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		a, ok := m.rooms.dir.Get(id)
		if !ok || a.Status != want {
			return fmt.Errorf("%s's hallway does not show room %s %s", m.id, id, want)
		}
		return nil
	})
}

// A scheduled room goes live at its start by itself, and then admits.
func TestScheduledRoomGoesLive(t *testing.T) {
	ms := startMembers(t, 2)
	host, guest := ms[0], ms[1]
	ctx := context.Background()
	start := time.Now().Add(2 * time.Second)
	st, err := host.rooms.Create(ctx, "Later tonight", rooms.TypeOpen, start)
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	if st.Status != rooms.StatusScheduled {
		t.Fatalf("a room created for later is %s", st.Status)
	}
	knows(t, guest, id)
	// Unless this machine is so slow that the start has passed already,
	// the guest sees the room scheduled and cannot join it yet.
	if a, ok := guest.rooms.dir.Get(id); ok && a.Status == rooms.StatusScheduled && time.Now().Before(start.Add(-100*time.Millisecond)) {
		_, err = guest.rooms.Request(ctx, id, rooms.KindJoin, "", nil)
		refused(t, err, "has not started")
	}
	hallwayStatus(t, guest, id, rooms.StatusLive)
	t.Logf("scheduled room live in another member's hallway %s after its start", time.Since(start))
	mustRequest(t, guest, id, rooms.KindJoin, nil)
}

// A host restarting with a scheduled room: still ahead, it is announced
// again; due, it opens; long overdue, it is ended rather than opened to
// nobody, and never shows again.
func TestRestoreScheduledRoom(t *testing.T) {
	ms := startMembers(t, 2)
	host, guest := ms[0], ms[1]
	ctx := context.Background()
	now := time.Now()
	scheduled := func(title string, start time.Time) *rooms.SignedState {
		st, err := rooms.NewState(rooms.RoomConfig{Network: host.p2p.Chain().Network(), Host: host.id,
			Title: title, Type: rooms.TypeOpen, Start: start, Now: start.Add(-time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		signed, err := rooms.SignState(host.key, st)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	ahead := scheduled("Ahead", now.Add(time.Hour))
	due := scheduled("Due", now.Add(-time.Minute))
	overdue := scheduled("Overdue", now.Add(-2*time.Hour)) // the grace is an hour
	for _, st := range []*rooms.SignedState{ahead, due, overdue} {
		if err := host.rooms.Restore(ctx, st); err != nil {
			t.Fatalf("restore %q: %v", st.Title, err)
		}
	}
	hallwayStatus(t, guest, ahead.Room, rooms.StatusScheduled)
	hallwayStatus(t, guest, due.Room, rooms.StatusLive)
	mustRequest(t, guest, due.Room, rooms.KindJoin, nil)
	host.owner.mu.Lock()
	stored := host.owner.states[overdue.Room]
	host.owner.mu.Unlock()
	if stored == nil || stored.Status != rooms.StatusEnded {
		t.Fatal("the overdue room was not ended in the host's store")
	}
	if _, ok := guest.rooms.dir.Get(overdue.Room); ok {
		t.Fatal("the overdue room is in the hallway")
	}
}
