package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/clubnode/clubnode/internal/dialrange"
)

// connectionGater is the node's gater, limited to local dials when the
// config says so (tests).
func (n *Node) connectionGater() connmgr.ConnectionGater {
	if !n.cfg.LocalDialsOnly {
		return n.gater
	}
	return dialrange.Gater{ConnectionGater: n.gater, Refused: func(p peer.ID, _ ma.Multiaddr, err error) {
		n.log.Debug("dial refused", "peer", p, "err", err)
	}}
}

// gater keeps out, before any stream: revoked peers (allow), and keys and
// addresses backed off for failing to prove membership (admission.go).
type gater struct {
	allow   func(peer.ID) bool
	known   func(peer.ID) bool // a member this node knows: never backed off
	backoff *backoff
	now     func() time.Time
}

func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.allow(p) }

func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.allow(p) }

func (g *gater) InterceptAccept(addrs network.ConnMultiaddrs) bool {
	return !g.backoff.addrRefused(addrs.RemoteMultiaddr(), g.now())
}

func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	if dir == network.DirInbound && !g.known(p) && g.backoff.keyRefused(p, g.now()) {
		return false
	}
	return g.allow(p)
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
