package roomnet

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/rooms"
)

// RequestProtocol carries one signed request to a room's host and the
// resulting state (or the reason for refusal) back.
const RequestProtocol protocol.ID = "/clubnode/room-request/1.0.0"

const (
	maxRequestFrame = rooms.MaxRequestSize + rooms.MaxTicketSize + rooms.MaxPassSize + 256
	maxReplyFrame   = rooms.MaxStateSize + 4<<10
	requestTimeout  = 10 * time.Second
)

func hallwayTopic(n identity.NetworkID) string { return "/clubnode/" + string(n) + "/rooms/1" }

func stateTopic(n identity.NetworkID, r rooms.RoomID) string {
	return "/clubnode/" + string(n) + "/room/" + string(r) + "/state/1"
}

type requestMsg struct {
	Request []byte `cbor:"0,keyasint"`
	Ticket  []byte `cbor:"1,keyasint,omitempty"`
	Pass    []byte `cbor:"2,keyasint,omitempty"`
}

type stateReply struct {
	State []byte `cbor:"0,keyasint"`
}

var requestProto = rpc.Protocol[requestMsg, stateReply]{ID: RequestProtocol,
	MaxRequest: maxRequestFrame, MaxReply: maxReplyFrame, Timeout: requestTimeout, Codes: Codes, Limited: true}

// serveRequest is the host's side: verify, check the permission table
// through rooms.Apply, sign the next state and spread it.
func (s *Service) serveRequest(_ context.Context, from peerID, msg requestMsg) (stateReply, error) {
	req, err := rooms.ParseRequest(msg.Request)
	if err != nil {
		return stateReply{}, err
	}
	if req.From != from {
		return stateReply{}, fmt.Errorf("%w: request signed by %s but sent by %s", rooms.ErrNotAllowed, req.From, from)
	}
	if err := s.replay.Check(&req.Request, s.cfg.Now()); err != nil {
		return stateReply{}, err
	}
	next, err := s.apply(req, msg.Ticket, msg.Pass)
	if err != nil {
		return stateReply{}, err
	}
	return stateReply{State: next.Bytes}, nil
}

// handedOver: req is the leave of cur's host, and this node is its
// successor, which applies it and signs the state that makes it host.
func (s *Service) handedOver(cur *rooms.State, req *rooms.SignedRequest) bool {
	succ, ok := rooms.Successor(*cur)
	return ok && succ == s.self() && req.Kind == rooms.KindLeave && req.From == cur.Host
}

func (s *Service) isMember(p peerID) bool {
	m, ok := s.cfg.P2P.Member(p)
	if !ok {
		return false
	}
	return m.Chain.Verify(s.network, p, s.cfg.P2P.Revocations(), s.cfg.Now()) == nil
}

// publishState makes signed the room's state here, stores it if this node
// hosts it, and spreads it to the participants and the hallway.
func (s *Service) publishState(ctx context.Context, signed *rooms.SignedState) error {
	s.mu.Lock()
	r, ok := s.rooms[signed.Room]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", rooms.ErrUnknownRoom, signed.Room)
	}
	if err := s.accept(r, signed); err != nil {
		return err
	}
	if err := s.persist(signed.Room); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.topic.Publish(pctx, signed.Bytes); err != nil {
		return fmt.Errorf("publish room state: %w", err)
	}
	s.pushToRelayed(signed)
	s.announce(ctx, signed.Room)
	return nil
}

// Request asks room's host to do kind (to target, if any) and returns the
// state that resulted. Joining adopts the room here.
func (s *Service) Request(ctx context.Context, id rooms.RoomID, kind rooms.Kind, target peerID, ticket *rooms.SignedTicket) (*rooms.SignedState, error) {
	host, err := s.hostOf(id)
	if err != nil {
		return nil, err
	}
	var pass *rooms.SignedPass
	if kind == rooms.KindJoin {
		if ticket == nil {
			ticket = s.cfg.Store.Ticket(id) // one the host delivered, or an earlier join kept
		}
		pass = s.passFor(id, host)
	}
	req, err := rooms.SignRequest(s.cfg.Key, rooms.Request{Room: id, Kind: kind, Target: target, Time: s.cfg.Now()})
	if err != nil {
		return nil, err
	}
	if st, ok := s.State(id); ok && host == s.self() && kind == rooms.KindLeave {
		if succ, ok := rooms.Successor(st.State); ok {
			// The host leaves: the successor signs the handover, so the
			// request goes to it (handedOver).
			host = succ
		}
	}
	var next *rooms.SignedState
	if host == s.self() {
		if err := s.replay.Check(&req.Request, s.cfg.Now()); err != nil {
			return nil, err
		}
		var tb, pb []byte
		if ticket != nil {
			tb = ticket.Bytes
		}
		if pass != nil {
			pb = pass.Bytes
		}
		if next, err = s.apply(req, tb, pb); err != nil {
			return nil, err
		}
	} else if next, err = s.send(ctx, host, req, ticket, pass); err != nil {
		return nil, err
	}
	if _, held := s.State(id); !held && next.InRoom(s.self()) {
		if err := s.adopt(next); err != nil {
			return nil, err
		}
	} else if held {
		s.mu.Lock()
		r := s.rooms[id]
		s.mu.Unlock()
		if r != nil {
			_ = s.accept(r, next)
		}
	}
	if !next.InRoom(s.self()) {
		s.drop(id)
	}
	return next, nil
}

func (s *Service) hostOf(id rooms.RoomID) (peerID, error) {
	if st, ok := s.State(id); ok {
		return st.Host, nil
	}
	if a, ok := s.dir.Get(id); ok {
		return a.Host, nil
	}
	s.mu.Lock()
	host, ok := s.remembered[id]
	s.mu.Unlock()
	if ok {
		return host, nil
	}
	return "", fmt.Errorf("%w: %s is not in this node's hallway", rooms.ErrUnknownRoom, id)
}

func (s *Service) send(ctx context.Context, host peerID, req *rooms.SignedRequest, ticket *rooms.SignedTicket, pass *rooms.SignedPass) (*rooms.SignedState, error) {
	msg := requestMsg{Request: req.Bytes}
	if ticket != nil {
		msg.Ticket = ticket.Bytes
	}
	if pass != nil {
		msg.Pass = pass.Bytes
	}
	reply, err := requestProto.Call(ctx, s.host(), host, msg)
	if err != nil {
		return nil, fmt.Errorf("the host %s: %w", host, err)
	}
	return hostsState(reply.State, req.Room, host)
}

// hostsState parses a state that host sent of room as its own, for a
// request or a catch-up.
func hostsState(b []byte, room rooms.RoomID, host peerID) (*rooms.SignedState, error) {
	next, err := rooms.ParseState(b)
	if err != nil {
		return nil, fmt.Errorf("the host's reply: %w", err)
	}
	if next.Room != room || next.Host != host {
		return nil, fmt.Errorf("the host's reply is the state of another room or host")
	}
	return next, nil
}
