package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/webrtc/v4"

	"github.com/clubnode/clubnode/internal/natkind"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
	"github.com/clubnode/clubnode/p2p"
	"github.com/clubnode/clubnode/rooms"
)

// natConfig is p2p's NAT traversal config from the settings.
func (n *Node) natConfig() p2p.NATConfig {
	s := n.cfg.Settings
	c := p2p.NATConfig{
		Reachability:   s.Reachability,
		PublicAddrs:    s.PublicAddrs,
		NoRelayService: !s.RelayService,
		RelayLimits: p2p.RelayLimits{
			MaxReservations: s.RelayMaxReservations,
			MaxCircuits:     s.RelayMaxCircuits,
			CircuitDuration: time.Duration(s.RelayCircuitSeconds) * time.Second,
			CircuitBytes:    s.RelayCircuitBytes,
		},
		StaticRelays: p2p.AddrInfos(s.StaticRelays),
		PortMapping:  s.PortMapping,
		LabInternet:  n.cfg.LabInternet,
	}
	return c
}

func iceServers(list []home.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(list))
	for _, s := range list {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

// placeTraits are what this node tells a room's host of itself when it
// asks for a place: publicly reachable nodes are the always-on ones,
// which the host keeps near the root; a node behind NAT says so, so that
// it is placed where a hole punch or TURN can reach it, and one whose
// NAT test (natkind.go) found a symmetric NAT says it is relay-only.
func (n *Node) placeTraits() rooms.Traits {
	if n.p2p.Reachability() == p2p.ReachPublic {
		return rooms.Traits{Reach: rooms.ReachPublic, AlwaysOn: true}
	}
	if n.nat.kind() == natkind.Symmetric {
		// Its mapping per destination is one no peer can punch to: only
		// TURN reaches it, so it is a leaf (rooms.ReachRelayOnly).
		return rooms.Traits{Reach: rooms.ReachRelayOnly}
	}
	return rooms.Traits{Reach: rooms.ReachPunchable}
}

// roomLinks are the room's live audio links with their paths.
func (n *Node) roomLinks(room rooms.RoomID) []apiv1.RoomLink {
	out := []apiv1.RoomLink{}
	for _, l := range n.rtc.LinkPaths(nil) {
		if l.Room != string(room) {
			continue
		}
		out = append(out, apiv1.RoomLink{Peer: l.Peer, Role: l.Role, Path: l.Path, Relay: l.Relay,
			RTTMillis: float64(l.RTT.Microseconds()) / 1000})
	}
	return out
}

// peerOf describes a connected peer, preferring its direct connection.
func peerOf(h host.Host, p peer.ID, conns []network.Conn, member bool) apiv1.Peer {
	out := apiv1.Peer{PeerID: p.String(), Addr: conns[0].RemoteMultiaddr().String(), Member: member, Link: "relayed",
		RTTMillis: float64(h.Peerstore().LatencyEWMA(p).Microseconds()) / 1000}
	for _, c := range conns {
		if !c.Stat().Limited {
			out.Addr, out.Link = c.RemoteMultiaddr().String(), "direct"
			break
		}
	}
	return out
}
