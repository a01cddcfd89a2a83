package p2p

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

const (
	// learnTimeout bounds asking peers about a member this node does not
	// know yet.
	learnTimeout = 5 * time.Second
	// learnPeers is how many verified peers are asked, one after another.
	learnPeers = 3
	// learnAgain is how soon the same unknown peer may be asked about
	// again: a peer that is no member must not cost a sync per stream.
	learnAgain = 10 * time.Second
)

// learnMember asks verified peers for a members sync when this node opens
// a stream to p without knowing p as a member. Gossip brings a room to the
// hallway and a member's chain on different topics, so a room can be
// listed before its host's membership has arrived; joining it then failed
// with ErrNotProven although the host is a member.
func (n *Node) learnMember(ctx context.Context, p peer.ID) {
	if p == n.ID() || n.IsMember(p) || !n.mayAskAbout(p) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, learnTimeout)
	defer cancel()
	asked := 0
	for _, q := range n.VerifiedPeers() {
		if q == p || asked == learnPeers {
			continue
		}
		asked++
		if err := n.syncFrom(ctx, q); err != nil {
			n.log.Debug("members sync to learn a peer failed", "peer", p, "from", q, "err", err)
		}
		if n.IsMember(p) || ctx.Err() != nil {
			return
		}
	}
}

// mayAskAbout reports whether p was not asked about within learnAgain,
// and records that it is asked about now.
func (n *Node) mayAskAbout(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	for q, at := range n.askedAbout {
		if now.Sub(at) >= learnAgain {
			delete(n.askedAbout, q)
		}
	}
	if _, recent := n.askedAbout[p]; recent {
		return false
	}
	n.askedAbout[p] = now
	return true
}
