package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2"
)

// AutoNAT v2 for members only.
//
// go-libp2p registers AutoNAT v2's dial-request handler on the libp2p
// host itself, out of memberHost's reach, and its server would dial any
// address a connected outsider names (rate-limited, but still a service
// to strangers and a way to learn that this node answers). The resource
// manager sees every stream's protocol before a handler does: the host
// calls SetProtocol once multistream has agreed on one, and resets the
// stream when it fails. So the resource manager is wrapped, and a
// dial-request stream with a peer that has not proved membership fails
// there, in either direction (this node does not ask outsiders to dial
// it back either). The dial-back stream is left alone: it comes from the
// server's throwaway dialer identity, never a member's, and the client
// checks its nonce.
//
// AutoNAT v2's answer does not drive reachability here: every node forces
// its reachability (p2p/nat.go), and go-libp2p 0.51 cannot let AutoNAT v2
// decide it (libp2p/go-libp2p#3515, PR #3527).

// membersOnlyProtocols are the protocols of the libp2p host itself that
// only members may use.
var membersOnlyProtocols = map[protocol.ID]bool{autonatv2.DialProtocol: true}

// memberRM is the resource manager with membersOnlyProtocols gated.
type memberRM struct {
	network.ResourceManager
	member func(peer.ID) bool
}

func (r memberRM) OpenStream(p peer.ID, dir network.Direction) (network.StreamManagementScope, error) {
	s, err := r.ResourceManager.OpenStream(p, dir)
	if err != nil {
		return nil, err
	}
	return memberStream{StreamManagementScope: s, peer: p, member: r.member}, nil
}

type memberStream struct {
	network.StreamManagementScope
	peer   peer.ID
	member func(peer.ID) bool
}

func (s memberStream) SetProtocol(proto protocol.ID) error {
	if membersOnlyProtocols[proto] && !s.member(s.peer) {
		return fmt.Errorf("%s with %s: %w", proto, s.peer, ErrNotProven)
	}
	return s.StreamManagementScope.SetProtocol(proto)
}
