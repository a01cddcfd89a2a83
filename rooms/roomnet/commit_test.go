package roomnet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// Joins that reach the host while it is signing another state go into
// one state together, not one state each; one of them that is refused
// gets its refusal and takes nothing from the others.
func TestJoinsArrivingTogetherShareOneState(t *testing.T) {
	ms := startMembers(t, 6)
	host, joiners, blocked := ms[0], ms[1:5], ms[5]
	ctx := context.Background()
	host.owner.set(host.owner.blocks, blocked.id, true)
	st, err := host.rooms.Create(ctx, "Flash crowd", rooms.TypeOpen, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	for _, m := range ms {
		sees(t, m, id, true)
	}
	before := host.owner.statesSaved(id)

	// The host is busy signing (a state being published holds signMu)
	// while every request arrives.
	host.rooms.signMu.Lock()
	locked := true
	defer func() {
		if locked {
			host.rooms.signMu.Unlock()
		}
	}()
	askers := append(append([]*member{}, joiners...), blocked)
	got := make([]*rooms.SignedState, len(askers))
	errs := make([]error, len(askers))
	var wg sync.WaitGroup
	for i, m := range askers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = m.rooms.Request(ctx, id, rooms.KindJoin, "", nil)
		}()
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		host.rooms.pendingMu.Lock()
		defer host.rooms.pendingMu.Unlock()
		if n := len(host.rooms.pending); n != len(askers) {
			return fmt.Errorf("%d of %d requests wait at the host", n, len(askers))
		}
		return nil
	})
	host.rooms.signMu.Unlock()
	locked = false
	wg.Wait()

	refused(t, errs[len(askers)-1], "blocked")
	for i, m := range joiners {
		if errs[i] != nil {
			t.Fatalf("%s joins: %v", m.id, errs[i])
		}
		for _, other := range joiners {
			if !got[i].InRoom(other.id) {
				t.Fatalf("the state %s got does not hold %s's join", m.id, other.id)
			}
		}
		if got[i].Version != got[0].Version {
			t.Fatalf("%s got version %d, %s version %d", m.id, got[i].Version, joiners[0].id, got[0].Version)
		}
	}
	if n := host.owner.statesSaved(id) - before; n != 1 {
		t.Fatalf("the host signed %d states for %d joins that arrived together, want 1", n, len(joiners))
	}
	hasState(t, joiners[0], id, "four listeners", func(s *rooms.SignedState) bool { return len(s.Audience) == len(joiners) })
}
