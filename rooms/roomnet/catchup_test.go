package roomnet

import (
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// changeUnheard makes the host take its own request of kind (about
// target) into the room's state without publishing the state: what the
// participants see when gossip loses it. The host's announcements carry
// the new version.
func changeUnheard(t *testing.T, host *member, id rooms.RoomID, kind rooms.Kind, target peer.ID) *rooms.SignedState {
	t.Helper()
	s := host.rooms
	s.signMu.Lock()
	defer s.signMu.Unlock()
	cur, ok := s.State(id)
	if !ok {
		t.Fatalf("the host does not hold room %s", id)
	}
	req, err := rooms.SignRequest(host.key, rooms.Request{Room: id, Kind: kind, Target: target, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	next, err := rooms.Apply(cur.State, req.Request, rooms.Admission{Member: true})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := rooms.SignState(host.key, next)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	r := s.rooms[id]
	s.mu.Unlock()
	if err := s.accept(r, signed); err != nil {
		t.Fatal(err)
	}
	return signed
}

// A participant that missed a state on gossip catches up from the host
// once the host's announcements show it is behind, instead of keeping the
// old state until the next change; one that missed its own removal learns
// that it is out.
func TestMissedStateCaughtUp(t *testing.T) {
	ms := startMembers(t, 3)
	host, a, b := ms[0], ms[1], ms[2]
	id := openRoomForAll(t, ms, "Lossy gossip")
	hasState(t, a, id, "both listeners", func(s *rooms.SignedState) bool { return len(s.Audience) == 2 })

	unmuted := changeUnheard(t, host, id, rooms.KindUnmuteSelf, "")
	for _, m := range []*member{a, b} {
		hasState(t, m, id, "the host unmuted, in a state gossip never brought", func(s *rooms.SignedState) bool {
			return s.Version >= unmuted.Version && !s.Muted(host.id)
		})
	}

	changeUnheard(t, host, id, rooms.KindRemove, b.id)
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok := b.rooms.State(id); ok {
			return errors.New("b still holds the room it was removed from")
		}
		return nil
	})
	hasState(t, a, id, "the room without b", func(s *rooms.SignedState) bool { return !s.InRoom(b.id) })
}
