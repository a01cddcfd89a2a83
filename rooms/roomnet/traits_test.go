package roomnet

import (
	"fmt"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// Each node tells the host how it can be reached when it asks for a place
// (Config.Traits), and the host places by it: with the host full, a late
// listener hangs under the punchable relay rather than under the
// relay-only one, though the relay-only one has more room (which is what
// wins when nothing is said).
func TestPlaceRequestsCarryReach(t *testing.T) {
	reach := []rooms.Reach{rooms.ReachPunchable, rooms.ReachRelayOnly, rooms.ReachPunchable, rooms.ReachPunchable}
	capacity := []int{2, 8, 3, 0}
	media := mediaConfig(t, func(i int) int { return capacity[i] }, nil)
	ms := startMembersWith(t, len(reach), func(i int, c *Config) {
		media(i, c)
		c.Traits = func() rooms.Traits { return rooms.Traits{Reach: reach[i]} }
	})
	h, relayOnly, punch, late := ms[0], ms[1], ms[2], ms[3]
	st, err := h.rooms.Create(t.Context(), "Who hangs where", rooms.TypeOpen, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	parentOf := func(m *member) string {
		s, _ := m.rooms.Media(id)
		return s.Parent.String()
	}
	for _, m := range []*member{relayOnly, punch, late} {
		sees(t, m, id, true)
		mustRequest(t, m, id, rooms.KindJoin, nil)
		testutil.Eventually(t, 30*time.Second, func() error {
			if parentOf(m) == "" {
				return fmt.Errorf("%s has no parent yet", m.id)
			}
			return nil
		})
	}
	if got := parentOf(late); got != punch.id.String() {
		t.Fatalf("the late listener hangs under %s, want the punchable relay %s (relay-only: %s)", got, punch.id, relayOnly.id)
	}
}
