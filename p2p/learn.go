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
	// learnAgain is how soon a peer that asking did not teach may be
	// asked about again: a peer that is no member must not cost a sync
	// per stream.
	learnAgain = 10 * time.Second
)

// learnMember asks verified peers for a members sync when this node opens
// a stream to p without knowing p as a member. Gossip brings a room to the
// hallway and a member's chain on different topics, so a room can be
// listed before its host's membership has arrived; joining it then failed
// with ErrNotProven although the host is a member.
func (n *Node) learnMember(ctx context.Context, p peer.ID) {
	if p == n.ID() || n.IsMember(p) || n.askedInVain(p) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, learnTimeout)
	defer cancel()
	asked := 0
	for _, q := range n.VerifiedPeers() {
		if asked == learnPeers {
			break
		}
		if q == p {
			continue
		}
		asked++
		if err := n.syncFrom(ctx, q); err != nil {
			n.log.Debug("members sync to learn a peer failed", "peer", p, "from", q, "err", err)
		}
		if n.IsMember(p) {
			return
		}
		if ctx.Err() != nil {
			break
		}
	}
	n.mu.Lock()
	n.askedAbout[p] = time.Now()
	n.mu.Unlock()
}

// askedInVain reports whether asking about p taught this node nothing
// within learnAgain. Only a vain ask counts: a peer learned once and then
// forgotten (revoked, say, then seen again) may be asked about at once.
func (n *Node) askedInVain(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	for q, at := range n.askedAbout {
		if now.Sub(at) >= learnAgain {
			delete(n.askedAbout, q)
		}
	}
	_, vain := n.askedAbout[p]
	return vain
}
