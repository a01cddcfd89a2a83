package p2p

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
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
// node that is not reachable runs it. While it uses no relay it sleeps
// until a circuit address or a relayed connection appears: most such
// nodes use none (a home router that forwards, a LAN), and a look every
// second, host.Addrs() included, was a wake a second for nothing.
func (n *Node) watchRelays(ctx context.Context) {
	addrs, err := n.host.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		n.log.Warn("relay watch not started", "err", err)
		return
	}
	defer addrs.Close()
	relayed := make(chan struct{}, 1)
	notify := &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if _, ok := relayOf(c.RemoteMultiaddr()); ok {
			select {
			case relayed <- struct{}{}:
			default:
			}
		}
	}}
	n.host.Network().Notify(notify)
	defer n.host.Network().StopNotify(notify)
	for {
		n.relayLooks.Add(1)
		relays := n.relaysInUse()
		if len(relays) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-addrs.Out():
			case <-relayed:
			}
			continue
		}
		if !group.Sleep(ctx, relayWatchInterval) {
			return
		}
		n.pingRelays(ctx, relays)
	}
}

// pingRelays pings each of relays still connected at once, and drops
// those that do not answer.
func (n *Node) pingRelays(ctx context.Context, relays []peer.ID) {
	var wg sync.WaitGroup
	for _, r := range relays {
		if n.host.Network().Connectedness(r) != network.Connected {
			continue
		}
		wg.Add(1)
		go func() { // ends within relayPingTimeout; the caller waits for it
			defer wg.Done()
			if err := n.pingRelay(ctx, r); err != nil && ctx.Err() == nil {
				n.dropRelay(r, err)
			}
		}()
	}
	wg.Wait()
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
