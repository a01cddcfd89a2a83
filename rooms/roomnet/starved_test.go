package roomnet

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubnode/clubnode/rooms"
)

// A moderator whose process was stopped for longer than the hallway TTL
// (2.2 s here) and HostTimeout (1 s) wakes to find the host's last
// announcement and ping answer that old, though the host sent newer ones
// in time; its own loops woke that late, which is the lateness it
// allows for. It keeps the room listed and does not take over from the
// live host. The starvation is injected: the moderator's clock jumps and
// its liveness loop records the late wake. Flakes this addresses:
// TestHostWithManyRoomsKeepsThem, TestTwoModeratorsConverge.
func TestStarvedModeratorKeepsLiveRoomAndHost(t *testing.T) {
	var skew atomic.Int64
	ms := startMembersWith(t, 2, func(i int, c *Config) {
		if i == 1 {
			c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		}
	})
	host, mod := ms[0], ms[1]
	id := openRoomForAll(t, ms, "Starved")
	makeModerator(t, host, id, mod)
	hasState(t, mod, id, "a moderator", func(s *rooms.SignedState) bool { return s.IsModerator(mod.id) })

	const starved = 2500 * time.Millisecond
	mod.rooms.late.live.Record(starved)
	skew.Store(int64(starved))
	if gone := mod.rooms.dir.Expire(mod.rooms.cfg.Now()); len(gone) != 0 {
		t.Fatalf("a starved moderator's hallway dropped the live room: %v", gone)
	}
	mod.rooms.watchHost(context.Background(), id)
	if st, ok := mod.rooms.State(id); !ok || st.Host != host.id {
		t.Fatal("a starved moderator took the room over from its live host")
	}
}
