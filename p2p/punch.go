package p2p

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/clubnode/clubnode/internal/group"
)

// Hole punching a relayed connection made too early.
//
// go-libp2p's DCUtR (v0.51) is started once per relayed connection, when
// it opens, by the end that accepted it, and only if that end can punch;
// the other end answers only once its holepunch service has registered
// /libp2p/dcutr, which it does when it first has a public address,
// checking for one at 0.25 s, doubling, up to every 5 s. A node behind NAT
// learns its public address from the first public node that identifies
// it, which for a newcomer redeeming an invite from a member behind
// another NAT happens in the very dial that opens the relayed connection
// to that member: the member's hole punch meets "protocols not supported:
// [/libp2p/dcutr]", is not tried again, and the control connection stays
// relayed for its whole life (30 minutes) although both NATs keep ports
// and the rooms' audio punches through them. The same holds the other way
// round: a relayed connection accepted before this node could punch is
// never punched by it.
//
// So once this node can answer (it announces /libp2p/dcutr), it closes
// each relayed connection to a member that opened before then, when it
// has no direct one to that member, and dials the member again through
// the relay, once per member: the member's hole puncher runs on the new
// connection, and this node answers. Streams on the old connection are
// reset, so it waits while a room's streams run on it (a media link's
// signalling would drop the audio); usually it happens in the first
// seconds after the node joins, before it enters a room.

// punchState tracks when this node could first answer a hole punch and
// which members it redialled since.
type punchState struct {
	mu        sync.Mutex
	readyAt   time.Time // zero until /libp2p/dcutr is registered
	redialled map[peer.ID]bool
}

// watchPunchReady waits until the holepunch service registers its
// protocol, then redials the members connected too early.
func (n *Node) watchPunchReady(ctx context.Context) {
	sub, err := n.host.EventBus().Subscribe(new(event.EvtLocalProtocolsUpdated), eventbus.Name("clubnode (punch)"))
	if err != nil {
		n.log.Warn("cannot watch for hole punching to start", "err", err)
		return
	}
	defer sub.Close()
	for !slices.Contains(n.host.Mux().Protocols(), holepunch.Protocol) {
		select {
		case <-ctx.Done():
			return
		case <-sub.Out():
		}
	}
	n.punch.mu.Lock()
	n.punch.readyAt = time.Now()
	n.punch.mu.Unlock()
	for _, p := range n.host.Network().Peers() {
		n.redialTooEarly(ctx, p)
	}
}

// punchRetry is how often a connection made too early is looked at again
// while streams that must not be cut (a room's) run on it.
const punchRetry = 2 * time.Second

// redialTooEarly closes the relayed connections to member p that opened
// before this node could answer a hole punch, and dials p again (see
// above), once no room's stream runs on them. A member verified later (a
// newcomer's inviter) comes here from markVerified.
func (n *Node) redialTooEarly(ctx context.Context, p peer.ID) {
	if !n.IsMember(p) {
		return
	}
	n.punch.mu.Lock()
	ready, done := n.punch.readyAt, n.punch.redialled[p]
	if !ready.IsZero() && !done {
		if n.punch.redialled == nil {
			n.punch.redialled = map[peer.ID]bool{}
		}
		n.punch.redialled[p] = true
	}
	n.punch.mu.Unlock()
	if ready.IsZero() || done {
		return
	}
	for {
		early, busy := n.tooEarly(p, ready)
		if len(early) == 0 {
			return
		}
		if !busy {
			for _, c := range early {
				_ = c.Close()
			}
			n.log.Debug("redialling a member through the relay so that it punches a hole", "peer", p)
			n.reachMember(ctx, p)
			return
		}
		if !group.Sleep(ctx, punchRetry) {
			return
		}
	}
}

// tooEarly lists the relayed connections to p opened before ready (none
// if a direct one exists), and whether a stream that must not be cut runs
// on one: a room's (its media link, placement, state) or a TURN request.
func (n *Node) tooEarly(p peer.ID, ready time.Time) (early []network.Conn, busy bool) {
	for _, c := range n.host.Network().ConnsToPeer(p) {
		if !isRelayed(c.RemoteMultiaddr()) {
			return nil, false // punched already, or never needed
		}
		if !c.Stat().Opened.Before(ready) {
			continue
		}
		early = append(early, c)
		for _, s := range c.GetStreams() {
			if id := string(s.Protocol()); strings.HasPrefix(id, "/clubnode/room-") || strings.HasPrefix(id, "/clubnode/turn/") {
				busy = true
			}
		}
	}
	return early, busy
}

func isRelayed(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}
