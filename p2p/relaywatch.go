package p2p

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/clubnode/clubnode/internal/group"
)

// Watching the relays a node behind NAT depends on.
//
// An always-on node that dies without a word (a crash, a power cut, a
// cable) leaves its QUIC connections open on the other side until their
// idle timeout, 30 s later; every relayed connection through it looks
// alive as long, so nothing reaches the peers behind it through another
// relay (a member's stream opens on the dead circuit and times out). A
// node that is not reachable itself therefore pings each relay it holds a
// reservation on or has a relayed connection through, and closes the
// connection to a relay that stops answering, with every circuit through
// it: the next stream to a peer behind it dials through the other relays
// (reachMember), and AutoRelay takes a reservation elsewhere.

const (
	// relayWatchInterval is how often each relay in use is pinged.
	relayWatchInterval = time.Second
	// relayPingTimeout is how long a relay has to answer a ping. A relay
	// on another continent answers in a fraction of it.
	relayPingTimeout = 2 * time.Second
)

// startRelays feeds AutoRelay's candidates from the host and, on a node
// that is not reachable, starts watching the relays it uses and for the
// moment it can answer hole punches (punch.go).
func (n *Node) startRelays() {
	n.initRelaySet()
	if n.reach != ReachPublic {
		n.goFn(n.watchRelays)
		n.goFn(n.watchPunchReady)
	}
}

// relaysInUse lists the relays this node holds a reservation on (they
// appear in its own circuit addresses) or has relayed connections
// through.
func (n *Node) relaysInUse() []peer.ID {
	seen := map[peer.ID]bool{}
	var out []peer.ID
	add := func(a ma.Multiaddr) {
		if r, ok := relayOf(a); ok && !seen[r] && r != n.ID() {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, a := range n.host.Addrs() {
		add(a)
	}
	for _, c := range n.host.Network().Conns() {
		add(c.RemoteMultiaddr())
	}
	return out
}

// relayOf is the relay a circuit address goes through.
func relayOf(a ma.Multiaddr) (peer.ID, bool) {
	relay, _ := ma.SplitFunc(a, func(c ma.Component) bool { return c.Code() == ma.P_CIRCUIT })
	if len(relay) == len(a) {
		return "", false
	}
	id, err := peer.IDFromP2PAddr(relay)
	return id, err == nil
}

// watchRelays pings the relays in use until ctx ends (see above). Only a
// node that is not reachable runs it.
func (n *Node) watchRelays(ctx context.Context) {
	for group.Sleep(ctx, relayWatchInterval) {
		var wg sync.WaitGroup
		for _, r := range n.relaysInUse() {
			if n.host.Network().Connectedness(r) != network.Connected {
				continue
			}
			wg.Add(1)
			go func() { // ends within relayPingTimeout; the loop waits for it
				defer wg.Done()
				if err := n.pingRelay(ctx, r); err != nil && ctx.Err() == nil {
					n.dropRelay(r, err)
				}
			}()
		}
		wg.Wait()
	}
}

func (n *Node) pingRelay(ctx context.Context, r peer.ID) error {
	ctx, cancel := context.WithTimeout(ctx, relayPingTimeout)
	defer cancel()
	select {
	case res := <-ping.Ping(ctx, n.host, r):
		return res.Error
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dropRelay closes the connections to a relay that stopped answering and
// every connection relayed through it.
func (n *Node) dropRelay(r peer.ID, err error) {
	var circuits int
	for _, c := range n.host.Network().Conns() {
		if via, ok := relayOf(c.RemoteMultiaddr()); ok && via == r {
			circuits++
			_ = c.Close()
		}
	}
	_ = n.host.Network().ClosePeer(r)
	n.log.Info("relay stopped answering; dropped it", "relay", r, "circuits", circuits, "err", err)
}
