package roomnet

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// lostPing is how long a relay that a child reported lost has to answer
// the host's ping before the host takes it out of the tree: a ping over a
// live connection comes back in milliseconds, and a loaded machine's in a
// few hundred.
const lostPing = time.Second

// checkLost is the host's answer to a child that failed over from a
// parent the host still holds a connection to: a frozen process, or a
// network cut the connection has not noticed yet. The host pings that
// relay; if it does not answer, it leaves the tree, so that nobody else
// is placed under it or handed it as a backup, and its other children,
// now detached, are placed again when they ask. A relay that answers
// stays: one child's word is not enough to move everyone below it. One
// check runs per relay at a time. Callers hold mu.
func (ms *mediaSession) goCheckLost(lost peer.ID) {
	if ms.checkingLost == nil {
		ms.checkingLost = map[peer.ID]bool{}
	}
	if ms.checkingLost[lost] {
		return
	}
	ms.checkingLost[lost] = true
	ms.work.Go(func(ctx context.Context) {
		alive := answersPing(ctx, ms.m.host, lost, lostPing)
		ms.mu.Lock()
		defer ms.mu.Unlock()
		delete(ms.checkingLost, lost)
		defer ms.m.lostChecks.Add(1)
		if alive || ctx.Err() != nil || ms.tree == nil || ms.host != ms.self() {
			return
		}
		if _, in := ms.tree.Depth(lost); !in {
			return
		}
		orphans := ms.tree.Remove(lost)
		ms.m.lostRemoved.Add(1)
		ms.m.log.Info("relay reported lost does not answer: out of the tree", "room", ms.room, "relay", lost,
			"orphans", len(orphans))
	})
}
