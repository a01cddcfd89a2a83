package roomnet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
	"github.com/clubnode/clubnode/rooms"
)

// RequestProtocol carries one signed request to a room's host and the
// resulting state (or the reason for refusal) back.
const RequestProtocol protocol.ID = "/clubnode/room-request/1.0.0"

const (
	maxRequestFrame = rooms.MaxRequestSize + rooms.MaxTicketSize + 256
	maxReplyFrame   = rooms.MaxStateSize + 4<<10
	requestTimeout  = 10 * time.Second
)

func hallwayTopic(n identity.NetworkID) string { return "/clubnode/" + string(n) + "/rooms/1" }

func stateTopic(n identity.NetworkID, r rooms.RoomID) string {
	return "/clubnode/" + string(n) + "/room/" + string(r) + "/state/1"
}

type requestMsg struct {
	V       int    `cbor:"0,keyasint"`
	Request []byte `cbor:"1,keyasint"`
	Ticket  []byte `cbor:"2,keyasint,omitempty"`
}

type replyMsg struct {
	V     int    `cbor:"0,keyasint"`
	State []byte `cbor:"1,keyasint,omitempty"`
	Error string `cbor:"2,keyasint,omitempty"`
}

// ErrRefused wraps the host's reason for refusing a request.
var ErrRefused = errors.New("refused by the host")

// handleRequest is the host's side: verify, check the permission table
// through rooms.Apply, sign the next state and spread it.
func (s *Service) handleRequest(st network.Stream) {
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(requestTimeout))
	var msg requestMsg
	if err := wire.NewReader(st, maxRequestFrame).ReadFrame(&msg); err != nil {
		st.Reset()
		return
	}
	reply := replyMsg{V: 1}
	next, err := s.serve(st.Conn().RemotePeer(), msg)
	if err != nil {
		reply.Error = err.Error()
	} else {
		reply.State = next.Bytes
	}
	_ = wire.WriteFrame(st, reply)
}

func (s *Service) serve(from peerID, msg requestMsg) (*rooms.SignedState, error) {
	req, err := rooms.ParseRequest(msg.Request)
	if err != nil {
		return nil, err
	}
	if req.From != from {
		return nil, fmt.Errorf("request signed by %s but sent by %s", req.From, from)
	}
	if err := s.replay.Check(&req.Request, s.cfg.Now()); err != nil {
		return nil, err
	}
	return s.apply(req, msg.Ticket)
}

// apply runs a verified request against a room this node hosts.
func (s *Service) apply(req *rooms.SignedRequest, ticketBytes []byte) (*rooms.SignedState, error) {
	s.signMu.Lock()
	defer s.signMu.Unlock()
	s.mu.Lock()
	r, ok := s.rooms[req.Room]
	var cur *rooms.SignedState
	if ok {
		cur = r.state
	}
	s.mu.Unlock()
	if !ok || cur.Host != s.self() {
		return nil, fmt.Errorf("%w: %s is not hosted by this node", rooms.ErrUnknownRoom, req.Room)
	}
	adm := rooms.Admission{Member: s.isMember(req.From), Followed: s.cfg.Store.Follows(req.From),
		BlockedBy: s.blockedBy(req.Room, req.From)}
	if s.cfg.Store.Blocks(req.From) {
		adm.BlockedBy = append(adm.BlockedBy, s.self())
	}
	if len(ticketBytes) > 0 {
		t, err := rooms.ParseTicket(ticketBytes)
		if err != nil {
			return nil, err
		}
		adm.Ticket = t
	}
	next, err := rooms.Apply(cur.State, req.Request, adm)
	if err != nil {
		return nil, err
	}
	if next.Host != s.self() {
		// The host left: the successor signs the handover (rooms.Apply).
		return nil, fmt.Errorf("%w: the host is leaving; %s takes over", rooms.ErrNotAllowed, next.Host)
	}
	signed, err := rooms.SignState(s.cfg.Key, next)
	if err != nil {
		return nil, err
	}
	if err := s.publishState(s.ctx, signed); err != nil {
		return nil, err
	}
	return signed, nil
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
	if kind == rooms.KindJoin && ticket == nil {
		ticket = s.cfg.Store.Ticket(id) // one the host delivered, or an earlier join kept
	}
	req, err := rooms.SignRequest(s.cfg.Key, rooms.Request{Room: id, Kind: kind, Target: target, Time: s.cfg.Now()})
	if err != nil {
		return nil, err
	}
	var next *rooms.SignedState
	if host == s.self() {
		if err := s.replay.Check(&req.Request, s.cfg.Now()); err != nil {
			return nil, err
		}
		var tb []byte
		if ticket != nil {
			tb = ticket.Bytes
		}
		if next, err = s.apply(req, tb); err != nil {
			return nil, err
		}
	} else if next, err = s.send(ctx, host, req, ticket); err != nil {
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
	return "", fmt.Errorf("%w: %s is not in this node's hallway", rooms.ErrUnknownRoom, id)
}

func (s *Service) send(ctx context.Context, host peerID, req *rooms.SignedRequest, ticket *rooms.SignedTicket) (*rooms.SignedState, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	st, err := s.cfg.P2P.Host().NewStream(ctx, host, RequestProtocol)
	if err != nil {
		return nil, fmt.Errorf("reach the host %s: %w", host, err)
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(requestTimeout))
	msg := requestMsg{V: 1, Request: req.Bytes}
	if ticket != nil {
		msg.Ticket = ticket.Bytes
	}
	if err := wire.WriteFrame(st, msg); err != nil {
		st.Reset()
		return nil, err
	}
	var reply replyMsg
	if err := wire.NewReader(st, maxReplyFrame).ReadFrame(&reply); err != nil {
		st.Reset()
		return nil, fmt.Errorf("read the host's reply: %w", err)
	}
	if reply.Error != "" {
		return nil, fmt.Errorf("%w: %s", ErrRefused, reply.Error)
	}
	next, err := rooms.ParseState(reply.State)
	if err != nil {
		return nil, fmt.Errorf("the host's reply: %w", err)
	}
	if next.Room != req.Room || next.Host != host {
		return nil, fmt.Errorf("the host's reply is the state of another room or host")
	}
	return next, nil
}
