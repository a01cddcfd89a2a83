// Package p2p is clubnode's control plane transport: the libp2p host, the
// membership gate every connection must pass (hello), online redemption of
// bearer invites, gossip of membership events (profiles, revocations) and
// discovery of other members (remembered peers, the network's own Kademlia
// DHT, mDNS).
//
// The package keeps membership state in memory only. Its owner (the node)
// persists what it is told through the Events interface and hands it back at
// start-up.
package p2p
