package p2p

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
)

// The members-only host.
//
// Everything of the network (gossipsub, the DHT, the members sync, the
// rooms and their media) runs on memberHost instead of the libp2p host
// itself. memberHost shows those services only the peers that proved
// membership in hello: they get no stream from a peer that has not, none
// of theirs reaches a handler, they do not see such peers connect, and
// they cannot dial a peer this node does not know as a member. That is the
// one place the membership rule is enforced for every protocol, including
// the paths inside libraries (gossipsub's flood publishing, its forwarding
// to floodsub peers, the DHT's queries and its serving side) that would
// otherwise walk every connected peer.

// ErrNotProven is returned for a stream to or from a peer that has not
// proved membership.
var ErrNotProven = errors.New("peer has not proved membership")

// memberHost is a host.Host whose peers are the verified members.
type memberHost struct {
	host.Host
	n   *Node
	net memberNetwork
	bus event.Bus
}

// memberEvents are the event types memberHost's bus carries: the ones
// gossipsub and the DHT subscribe to.
type memberEvents struct {
	identified   event.Emitter
	protocols    event.Emitter
	connectivity event.Emitter
	addresses    event.Emitter
	reachability event.Emitter
}

func newMemberHost(n *Node) (*memberHost, *memberEvents, error) {
	bus := eventbus.NewBus()
	var ev memberEvents
	for _, e := range []struct {
		to  *event.Emitter
		typ any
	}{
		{&ev.identified, new(event.EvtPeerIdentificationCompleted)},
		{&ev.protocols, new(event.EvtPeerProtocolsUpdated)},
		{&ev.connectivity, new(event.EvtPeerConnectednessChanged)},
		{&ev.addresses, new(event.EvtLocalAddressesUpdated)},
		{&ev.reachability, new(event.EvtLocalReachabilityChanged)},
	} {
		em, err := bus.Emitter(e.typ)
		if err != nil {
			return nil, nil, fmt.Errorf("member events: %w", err)
		}
		*e.to = em
	}
	mh := &memberHost{Host: n.host, n: n, bus: bus}
	mh.net = memberNetwork{Network: n.host.Network(), n: n}
	return mh, &ev, nil
}

func (ev *memberEvents) close() {
	for _, em := range []event.Emitter{ev.identified, ev.protocols, ev.connectivity, ev.addresses, ev.reachability} {
		_ = em.Close()
	}
}

func (h *memberHost) Network() network.Network { return h.net }
func (h *memberHost) EventBus() event.Bus      { return h.bus }

func (h *memberHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, h.n.membersOnly(handler))
}

func (h *memberHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, match, h.n.membersOnly(handler))
}

func (h *memberHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	if !h.n.isVerified(p) {
		h.n.learnMember(ctx, p)
		h.n.reachMember(ctx, p)
	}
	if !h.n.awaitVerified(ctx, p) {
		return nil, fmt.Errorf("stream to %s: %w", p, ErrNotProven)
	}
	return h.Host.NewStream(ctx, p, pids...)
}

// Connect dials only peers known as members: an address nobody in the
// network vouched for is never dialled (a forged DHT record, a stranger
// on the LAN). Hello then runs on the new connection as on any other.
func (h *memberHost) Connect(ctx context.Context, pi peer.AddrInfo) error {
	if _, ok := h.n.member(pi.ID); !ok {
		return fmt.Errorf("connect to %s: not a known member", pi.ID)
	}
	return h.Host.Connect(ctx, pi)
}

// memberNetwork is the network as memberHost's services see it: only the
// verified peers and their connections.
type memberNetwork struct {
	network.Network
	n *Node
}

func (m memberNetwork) Peers() []peer.ID { return m.n.VerifiedPeers() }

func (m memberNetwork) Connectedness(p peer.ID) network.Connectedness {
	if !m.n.isVerified(p) {
		return network.NotConnected
	}
	return m.Network.Connectedness(p)
}

func (m memberNetwork) ConnsToPeer(p peer.ID) []network.Conn {
	if !m.n.isVerified(p) {
		return nil
	}
	return m.Network.ConnsToPeer(p)
}

func (m memberNetwork) Conns() []network.Conn {
	var out []network.Conn
	for _, c := range m.Network.Conns() {
		if m.n.isVerified(c.RemotePeer()) {
			out = append(out, c)
		}
	}
	return out
}

func (m memberNetwork) DialPeer(ctx context.Context, p peer.ID) (network.Conn, error) {
	if _, ok := m.n.member(p); !ok {
		return nil, fmt.Errorf("dial %s: not a known member", p)
	}
	return m.Network.DialPeer(ctx, p)
}

func (m memberNetwork) NewStream(ctx context.Context, p peer.ID) (network.Stream, error) {
	if !m.n.awaitVerified(ctx, p) {
		return nil, fmt.Errorf("stream to %s: %w", p, ErrNotProven)
	}
	return m.Network.NewStream(ctx, p)
}

// Notify is refused: memberHost's services learn of peers from its event
// bus, which only carries verified ones. A notifiee on the raw network
// would see everyone.
func (m memberNetwork) Notify(network.Notifiee) {
	panic("p2p: Notify on the members-only network; subscribe to its event bus instead")
}

// membersOnly wraps a handler so that streams from peers that have not
// proved membership are reset before the handler reads a byte.
func (n *Node) membersOnly(handler network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		ctx, cancel := context.WithTimeout(n.ctx, helloStreamTimeout)
		ok := n.awaitVerified(ctx, s.Conn().RemotePeer())
		cancel()
		if !ok {
			_ = s.Reset()
			return
		}
		handler(s)
	}
}

// awaitVerified reports whether p has proved membership. When this node's
// own hello to p is still waiting for its answer (p answered, verified this
// node and already opened a stream), it waits for that hello to finish.
func (n *Node) awaitVerified(ctx context.Context, p peer.ID) bool {
	n.mu.Lock()
	_, ok := n.verified[p]
	wait := n.helloing[p]
	n.mu.Unlock()
	if ok || wait == nil {
		return ok
	}
	select {
	case <-wait:
	case <-ctx.Done():
	}
	return n.isVerified(p)
}

// forwardEvents copies the libp2p host's events onto memberHost's bus,
// keeping those about peers that have not proved membership to itself.
func (n *Node) forwardEvents(ctx context.Context, ev *memberEvents) {
	sub, err := n.host.EventBus().Subscribe([]any{
		new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerProtocolsUpdated),
		new(event.EvtPeerConnectednessChanged), new(event.EvtLocalAddressesUpdated),
		new(event.EvtLocalReachabilityChanged),
	}, eventbus.BufSize(256))
	if err != nil {
		n.log.Error("members-only events unavailable", "err", err)
		return
	}
	defer sub.Close()
	for {
		var e any
		select {
		case <-ctx.Done():
			return
		case e = <-sub.Out():
		}
		switch e := e.(type) {
		case event.EvtPeerIdentificationCompleted:
			if n.isVerified(e.Peer) {
				_ = ev.identified.Emit(e)
			}
		case event.EvtPeerProtocolsUpdated:
			if n.isVerified(e.Peer) {
				_ = ev.protocols.Emit(e)
			}
		case event.EvtPeerConnectednessChanged:
			// Disconnections reach the services through onDisconnected,
			// which knows whether the peer was a verified member.
		case event.EvtLocalAddressesUpdated:
			_ = ev.addresses.Emit(e)
		case event.EvtLocalReachabilityChanged:
			_ = ev.reachability.Emit(e)
		}
	}
}

// announceMember tells memberHost's services that p is now a member they
// may talk to: as if identify had just completed, with what the peerstore
// knows of p's protocols. If identify completes later, its own event
// follows (forwardEvents), p being verified by then.
func (n *Node) announceMember(p peer.ID) {
	protos, _ := n.host.Peerstore().GetProtocols(p)
	e := event.EvtPeerIdentificationCompleted{Peer: p, Protocols: protos, ListenAddrs: n.host.Peerstore().Addrs(p)}
	if conns := n.host.Network().ConnsToPeer(p); len(conns) > 0 {
		e.Conn = conns[0]
	}
	_ = n.events.identified.Emit(e)
	_ = n.events.connectivity.Emit(event.EvtPeerConnectednessChanged{Peer: p, Connectedness: network.Connected})
}

// announceGone tells memberHost's services that a member left.
func (n *Node) announceGone(p peer.ID) {
	_ = n.events.connectivity.Emit(event.EvtPeerConnectednessChanged{Peer: p, Connectedness: network.NotConnected})
}
