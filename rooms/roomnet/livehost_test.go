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

// A live host never loses its rooms: a host with many live and scheduled
// rooms, a moderator in each live one, keeps every one for several announce
// intervals, and every member's hallway lists all of them throughout. The
// old rule (one room a second per host in others' directories, and a
// moderator judging the host by the hallway) dropped rooms and took over
// live ones.
func TestHostWithManyRoomsKeepsThem(t *testing.T) {
	for _, tc := range []struct {
		name      string
		interval  time.Duration
		intervals int
	}{
		{"short interval", 400 * time.Millisecond, 8},
		{"default interval", 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.interval == 0 {
				t.Skip("three default intervals take 15 s")
			}
			ms := startMembersWith(t, 3, func(_ int, c *Config) {
				c.AnnounceInterval, c.HostTimeout = tc.interval, 0 // the defaults, or a short interval
			})
			host, mod, viewer := ms[0], ms[1], ms[2]
			interval := host.rooms.cfg.AnnounceInterval
			ctx := context.Background()
			const live, scheduled = 12, 12
			var ids []rooms.RoomID
			for i := range live + scheduled {
				var start time.Time
				if i >= live {
					start = time.Now().Add(time.Hour)
				}
				st, err := host.rooms.Create(ctx, fmt.Sprintf("Room %d", i), rooms.TypeOpen, start)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, st.Room)
			}
			for _, id := range ids[:live] {
				sees(t, mod, id, true)
				mustRequest(t, mod, id, rooms.KindJoin, nil)
				mustRequest(t, host, id, rooms.KindInviteSpeaker, mod)
				mustRequest(t, mod, id, rooms.KindAcceptInvite, nil)
				mustRequest(t, host, id, rooms.KindMakeModerator, mod)
			}
			end := time.Now().Add(time.Duration(tc.intervals) * interval)
			for time.Now().Before(end) {
				for _, id := range ids[:live] {
					if st, ok := mod.rooms.State(id); !ok || st.Host != host.id {
						t.Fatalf("room %s: the moderator holds host %v: it took over a live host", id, st)
					}
				}
				listed := map[rooms.RoomID]bool{}
				for _, a := range viewer.rooms.Hallway(viewer.viewer()) {
					listed[a.Room] = true
				}
				for _, id := range ids {
					if !listed[id] {
						t.Fatalf("the hallway lost room %s (%d of %d listed)", id, len(listed), len(ids))
					}
				}
				time.Sleep(interval / 4) // sample a few times an interval
			}
		})
	}
}

// Two hosts claim one room (a moderator took over a host that was alive,
// as after a partition): the room converges to one host, everyone holds
// the same, and the old host is a moderator in it again.
func TestTwoClaimsConverge(t *testing.T) {
	ms := startMembers(t, 4)
	host, mod, l1, l2 := ms[0], ms[1], ms[2], ms[3]
	ctx := context.Background()
	id := openRoomForAll(t, ms, "Split")
	makeModerator(t, host, id, mod)
	hasState(t, mod, id, "a moderator", func(s *rooms.SignedState) bool { return s.IsModerator(mod.id) })
	// The host goes on with the room while the moderator, cut off from
	// it, takes it over from the state it holds.
	held, _ := mod.rooms.State(id)
	mustRequest(t, l1, id, rooms.KindRaiseHand, nil)
	mod.rooms.takeOver(ctx, held)
	for _, m := range ms {
		hasState(t, m, id, "the moderator hosts, the old host moderates", func(s *rooms.SignedState) bool {
			return s.Host == mod.id && s.IsModerator(host.id)
		})
	}
	// One history: a request now goes to the new host and reaches all.
	mustRequest(t, l2, id, rooms.KindRaiseHand, nil)
	want, _ := mod.rooms.State(id)
	for _, m := range ms {
		hasState(t, m, id, "the same version everywhere", func(s *rooms.SignedState) bool { return s.Version == want.Version })
	}
	if st, ok := host.rooms.State(id); !ok || st.Host == host.id {
		t.Fatal("the old host still thinks it hosts the room")
	}
}

// After a takeover of a host that is gone for good, the new host prunes
// it from the stage once it has been out of reach for PresenceTimeout.
func TestGoneHostIsPruned(t *testing.T) {
	ms := startMembersWith(t, 3, func(_ int, c *Config) { c.PresenceTimeout = time.Second })
	host, mod, listener := ms[0], ms[1], ms[2]
	id := openRoomForAll(t, ms, "Ghosts")
	makeModerator(t, host, id, mod)
	hasState(t, listener, id, "a moderator", func(s *rooms.SignedState) bool { return s.IsModerator(mod.id) })
	died := time.Now()
	host.close()
	hasState(t, listener, id, "the moderator hosts", func(s *rooms.SignedState) bool { return s.Host == mod.id })
	took := time.Since(died)
	hasState(t, listener, id, "the old host pruned", func(s *rooms.SignedState) bool { return !s.InRoom(host.id) })
	t.Logf("host closed: takeover seen by a listener after %s, old host pruned after %s", took.Round(time.Millisecond),
		time.Since(died).Round(time.Millisecond))
	if banned, _ := mod.rooms.State(id); banned.IsBanned(host.id) {
		t.Fatal("pruning banned the old host")
	}
}

// A member whose node restarted asks to join a room it is still listed in:
// the host answers with the room's state instead of refusing "already in
// the room", and the member is back (its audio relinks from there).
func TestJoinAgainWhileListed(t *testing.T) {
	ms := startMembers(t, 2)
	host, l := ms[0], ms[1]
	id := openRoomForAll(t, ms, "Back again")
	// As a restarted node would: it holds nothing of the room any more.
	l.rooms.drop(id)
	before, _ := host.rooms.State(id)
	next, err := l.rooms.Request(context.Background(), id, rooms.KindJoin, "", nil)
	if err != nil {
		t.Fatalf("join while still listed: %v", err)
	}
	if next.Version != before.Version || !next.InRoom(l.id) {
		t.Fatalf("join while listed gave version %d (was %d), in room %v", next.Version, before.Version, next.InRoom(l.id))
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if _, ok := l.rooms.State(id); !ok {
			return errors.New("the member does not hold the room again")
		}
		return nil
	})
}

// A member that moderates no live room hosted elsewhere has no host to
// watch: its liveness loop sleeps (it woke eight times per HostTimeout on
// every member), and wakes to watch once the member is made moderator.
func TestLivenessSleepsUntilThereIsAHostToWatch(t *testing.T) {
	const hostTimeout = 400 * time.Millisecond
	ms := startMembersWith(t, 2, func(_ int, c *Config) { c.HostTimeout = hostTimeout })
	host, mod := ms[0], ms[1]
	id := openRoomForAll(t, ms, "Watched")

	// A listener moderates nothing: over two host timeouts (sixteen
	// rounds of a watching loop) it looks at most once, for the state
	// that made it a listener.
	before := mod.rooms.livenessRounds.Load()
	window := time.NewTimer(2 * hostTimeout)
	<-window.C
	if rounds := mod.rooms.livenessRounds.Load() - before; rounds > 2 {
		t.Fatalf("a listener's liveness loop ran %d rounds in %s with no host to watch", rounds, 2*hostTimeout)
	}

	makeModerator(t, host, id, mod)
	made := mod.rooms.livenessRounds.Load()
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := mod.rooms.livenessRounds.Load() - made; n < 8 {
			return fmt.Errorf("the new moderator's liveness loop ran %d rounds, want 8: it does not watch its host", n)
		}
		return nil
	})
}
