package p2p

import (
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/identity"
)

// Protocol IDs. Hello and redeem are not scoped to a network: a node must be
// able to tell a peer of another network why it is refused.
const (
	HelloProtocol  protocol.ID = "/clubnode/hello/1.0.0"
	RedeemProtocol protocol.ID = "/clubnode/redeem/1.0.0"
	SyncProtocol   protocol.ID = "/clubnode/members-sync/1.0.0"
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

// dhtPrefix scopes the Kademlia DHT to one network, so members of different
// networks (and the public IPFS DHT) never share routing tables.
func dhtPrefix(n identity.NetworkID) protocol.ID {
	return protocol.ID("/clubnode/" + string(n))
}

// MembershipTopic is the gossipsub topic for a network's membership events.
func MembershipTopic(n identity.NetworkID) string {
	return "/clubnode/" + string(n) + "/membership/1"
}

func rendezvous(n identity.NetworkID) string { return "/clubnode/" + string(n) + "/members" }

func mdnsService(n identity.NetworkID) string { return "clubnode-" + string(n) }
