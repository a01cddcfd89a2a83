package roomnet

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/rooms"
)

// StateProtocol carries a room's new state from its host straight to a
// participant that gossip cannot reach. Gossipsub does not use limited
// (relayed) connections (go-libp2p-pubsub#712), so a member behind a home
// router whose only connection to the room is through a relay would keep
// the state it joined with: a speaker it never hears unmuted.
const StateProtocol protocol.ID = "/clubnode/room-state/1.0.0"

type stateMsg struct {
	State []byte `cbor:"0,keyasint"`
}

var stateProto = noticeProtocol[stateMsg](StateProtocol, maxReplyFrame)

// pushToRelayed sends signed, which this node hosts, to every participant
// reached only through a relay. The rest get it by gossip: pushing to all
// would cost a large room's host a stream per listener per change.
func (s *Service) pushToRelayed(signed *rooms.SignedState) {
	for _, p := range signed.Participants() {
		if p == s.self() || !onlyRelayed(s.host().Network(), p) {
			continue
		}
		s.goFn(func(ctx context.Context) {
			if _, err := stateProto.Call(ctx, s.host(), p, stateMsg{State: signed.Bytes}); err != nil {
				s.log.Debug("room state not pushed", "room", signed.Room, "to", p, "err", err)
			}
		})
	}
}

// onlyRelayed reports whether every connection to p is a limited one.
func onlyRelayed(n network.Network, p peerID) bool {
	conns := n.ConnsToPeer(p)
	for _, c := range conns {
		if !c.Stat().Limited {
			return false
		}
	}
	return len(conns) > 0
}

// receiveState is the participant's side: a state pushed by the room's
// host is taken as if gossip had brought it.
func (s *Service) receiveState(_ context.Context, from peerID, msg stateMsg) (struct{}, error) {
	next, err := rooms.ParseState(msg.State)
	if err != nil {
		return struct{}{}, err
	}
	if next.Host != from {
		return struct{}{}, fmt.Errorf("%w: a state of a room hosted by %s, pushed by %s", rooms.ErrNotAllowed, next.Host, from)
	}
	held, ok := s.State(next.Room)
	if !ok {
		return struct{}{}, fmt.Errorf("%w: %s", rooms.ErrUnknownRoom, next.Room)
	}
	if next.Version <= held.Version {
		return struct{}{}, nil // gossip was first
	}
	if err := rooms.Accept(held, next); err != nil {
		return struct{}{}, err
	}
	s.applyState(next.Room, next)
	return struct{}{}, nil
}
