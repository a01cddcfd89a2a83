package roomnet

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

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
	parentOf := joinInTurn(t, id, relayOnly, punch, late)
	if got := parentOf(late); got != punch.id.String() {
		t.Fatalf("the late listener hangs under %s, want the punchable relay %s (relay-only: %s)", got, punch.id, relayOnly.id)
	}
}

// A place request carries the child's measured round trips (the
// peerstore's EWMA, as pings left it), and the host places by them: with
// the host full, a late listener hangs under the relay it measured near,
// though the other relay has more room (which is what wins when nothing
// is measured).
func TestPlaceRequestsCarryMeasuredRTTs(t *testing.T) {
	capacity := []int{2, 8, 3, 0}
	ms := startMembersWith(t, len(capacity), mediaConfig(t, func(i int) int { return capacity[i] }, nil))
	h, roomy, near, late := ms[0], ms[1], ms[2], ms[3]
	st, err := h.rooms.Create(t.Context(), "Who is near", rooms.TypeOpen, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	lh := late.p2p.MemberHost()
	for _, relay := range []*member{roomy, near} {
		if err := lh.Connect(t.Context(), peer.AddrInfo{ID: relay.id, Addrs: relay.p2p.Host().Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	for range 200 { // the EWMA converges on what is recorded
		lh.Peerstore().RecordLatency(roomy.id, 80*time.Millisecond)
		lh.Peerstore().RecordLatency(near.id, 4*time.Millisecond)
	}
	parentOf := joinInTurn(t, id, roomy, near, late)
	if got := parentOf(late); got != near.id.String() {
		t.Fatalf("the late listener hangs under %s, want the near relay %s (roomy: %s)", got, near.id, roomy.id)
	}
	// members are pinged all at once (the wait is long here: a loaded
	// machine under -race may take longer than placePingWait)
	got := pingAll(t.Context(), lh, []peer.ID{h.id, roomy.id}, 10*time.Second)
	if len(got) != 2 || got[0].RTT <= 0 || got[1].RTT <= 0 {
		t.Fatalf("pinged the host and a relay on loopback: %v", got)
	}
}

// The host refuses a place request whose round trips are too many, name
// no peer or are out of range.
func TestParseRTTsLimits(t *testing.T) {
	id := peer.ID("12D3KooWD8CfQmtAQaHF6ZNjazue1Rjq8FEUu3pqAYzaHVvmaxX7")
	ok := placeRTT{Peer: []byte(id), Micros: 12_000}
	if got, err := parseRTTs([]placeRTT{ok}); err != nil || len(got) != 1 || got[0].RTT != 12*time.Millisecond {
		t.Fatalf("one round trip: %v, %v", got, err)
	}
	for name, in := range map[string][]placeRTT{
		"too many": slices.Repeat([]placeRTT{ok}, rooms.MaxMeasuredRTTs+1),
		"no peer":  {{Peer: []byte("x"), Micros: 5}},
		"zero":     {{Peer: []byte(id), Micros: 0}},
		"too slow": {{Peer: []byte(id), Micros: uint32(maxMeasuredRTT.Microseconds()) + 1}},
	} {
		if _, err := parseRTTs(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// joinInTurn has each of ms join room id in turn, each once it sees the
// room, and waits for each to have a parent before the next asks. It
// returns how to read a member's parent.
func joinInTurn(t *testing.T, id rooms.RoomID, ms ...*member) func(*member) string {
	t.Helper()
	parentOf := func(m *member) string {
		s, _ := m.rooms.Media(id)
		return s.Parent.String()
	}
	for _, m := range ms {
		sees(t, m, id, true)
		mustRequest(t, m, id, rooms.KindJoin, nil)
		testutil.Eventually(t, 30*time.Second, func() error {
			if parentOf(m) == "" {
				return fmt.Errorf("%s has no parent yet", m.id)
			}
			return nil
		})
	}
	return parentOf
}
