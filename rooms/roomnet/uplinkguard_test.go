package roomnet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/testutil"
)

// A relay whose uplink loses what it sends to every child (its RTP
// dropped on the way out, as a saturated uplink drops it) learns so from
// the children's receiver reports, and tells the host a capacity below
// the children it has: the host places no new child under it.
func TestSaturatedRelayReportsLessCapacity(t *testing.T) {
	capacity := []int{2, 0, 4, 0, 0}
	const relayAt = 2
	ms := startMembersWith(t, len(capacity), mediaConfig(t, func(i int) int { return capacity[i] },
		func(i int) func(*interceptor.Registry) error {
			if i != relayAt {
				return nil
			}
			return func(r *interceptor.Registry) error {
				r.Add(rtc.DropRandomly(0.5, 11))
				return nil
			}
		}))
	h, s, relay := ms[0], ms[1], ms[relayAt]
	id := stage(t, ms, h, []*member{s}, ms[2:])
	for _, c := range ms[3:] {
		if st, _ := c.rooms.Media(id); st.Parent != relay.id {
			t.Fatalf("%s hangs under %s, want the relay %s", c.id, st.Parent, relay.id)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { speak(t, ctx, s, id, audiotest.Speech(20*time.Second, 3)) })
	defer wg.Wait()
	defer cancel()
	hostCapacity := func() (int, error) {
		hs, ok := h.rooms.media.session(id)
		if !ok {
			return 0, fmt.Errorf("no host session")
		}
		hs.mu.Lock()
		defer hs.mu.Unlock()
		c, ok := hs.tree.Capacity(relay.id)
		if !ok {
			return 0, fmt.Errorf("relay not in the host's tree")
		}
		return c, nil
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		got, err := hostCapacity()
		if err != nil {
			return err
		}
		if own := relay.rooms.media.relayCapacity(); got >= 2 || own >= 2 {
			var links []string
			for _, l := range relay.rooms.media.api.LinkStats(nil) {
				links = append(links, fmt.Sprintf("%s sent %d lost %d nacks %d", l.Role, l.PacketsSent, l.RemoteLost, l.NACKsReceived))
			}
			return fmt.Errorf("the relay says %d, the host has %d: want under its 2 children (%v)", own, got, links)
		}
		return nil
	})
}
