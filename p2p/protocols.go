package p2p

import (
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/identity"
)

// Protocol IDs. None names a network or a room: identify shows them to
// every peer that connects, member or not.
const (
	HelloProtocol  protocol.ID = "/clubnode/hello/1.0.0"
	RedeemProtocol protocol.ID = "/clubnode/redeem/1.0.0"
	SyncProtocol   protocol.ID = "/clubnode/members-sync/1.1.0"
	// syncWholeProtocol is the members sync before digests: the answer
	// is always everything. Still answered, and spoken to peers that
	// know no newer one.
	syncWholeProtocol protocol.ID = "/clubnode/members-sync/1.0.0"
)

// Frame and message limits.
const (
	maxHelloFrame  = identity.MaxChainSize + identity.MaxRevocationSize + 4<<10
	maxRedeemFrame = identity.MaxInviteSize + identity.MaxChainSize + 4<<10
	// MaxGossipMessage bounds every membership gossip message and every
	// frame of a members sync.
	MaxGossipMessage = identity.MaxChainSize + identity.MaxRevocationSize + identity.MaxProfileSize + 1<<10
	maxSyncFrames    = 20000
)

// dhtPrefix is the Kademlia DHT's protocol prefix. It names no network:
// identify lists every protocol to any peer that connects, so a network's
// ID in a protocol would tell strangers which network a node is in. The
// DHT is kept to one network by running only between proven members.
const dhtPrefix protocol.ID = "/clubnode"

// MembershipTopic is the gossipsub topic for a network's membership events.
func MembershipTopic(n identity.NetworkID) string {
	return "/clubnode/" + string(n) + "/membership/1"
}

func rendezvous(n identity.NetworkID) string { return "/clubnode/" + string(n) + "/members" }

// mdnsService is the service name on the LAN, the same for every network
// for the same reason as dhtPrefix.
const mdnsService = "clubnode"
