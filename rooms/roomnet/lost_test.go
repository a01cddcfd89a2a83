package roomnet

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// inHostTree reports whether the host's tree of room id holds p.
func inHostTree(h *member, id rooms.RoomID, p peer.ID) bool {
	ms, ok := h.rooms.media.session(id)
	if !ok {
		return false
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.tree == nil {
		return false
	}
	_, in := ms.tree.Depth(p)
	return in
}

// A relay whose links die while its libp2p connection to the host lives
// on (a frozen process: the kernel keeps its sockets) is taken out of the
// host's tree once a child fails over from it and it does not answer the
// host's ping, so nobody else is placed under it. A relay that still
// answers (only the child's link to it broke) stays.
func TestHostRemovesARelayReportedLost(t *testing.T) {
	for _, answers := range []bool{false, true} {
		t.Run(fmt.Sprintf("answers ping %v", answers), func(t *testing.T) {
			ms := startMembersWith(t, 5, mediaConfig(t, func(int) int { return 2 }, nil))
			h, s, r1, r2, c := ms[0], ms[1], ms[2], ms[3], ms[4]
			id := stageInOrder(t, h, []*member{r1, r2, c}, s)
			st, _ := c.rooms.Media(id)
			parent := r1
			if st.Parent == r2.id {
				parent = r2
			}
			if !slices.Contains([]peer.ID{r1.id, r2.id}, st.Parent) || !inHostTree(h, id, parent.id) {
				t.Fatalf("child hangs under %s; want one of the relays, in the host's tree", st.Parent)
			}
			if !answers {
				parent.p2p.Host().RemoveStreamHandler(ping.ID)
			}
			// Its media stops (every link ends) but its node stays
			// connected to the host.
			parent.rooms.media.close()
			testutil.Eventually(t, 10*time.Second, func() error {
				if c.rooms.LinkFailovers() == 0 {
					return errors.New("the child has not failed over yet")
				}
				if h.rooms.media.lostChecks.Load() == 0 {
					return errors.New("the host has not checked the relay yet")
				}
				return nil
			})
			if in := inHostTree(h, id, parent.id); in != answers {
				t.Fatalf("relay in the host's tree: %v; answering ping %v", in, answers)
			}
			if n := h.rooms.LostRelaysRemoved(); (n > 0) == answers {
				t.Fatalf("host removed %d lost relays; answering ping %v", n, answers)
			}
		})
	}
}
