package roomnet

import (
	"fmt"

	"github.com/clubnode/clubnode/rooms"
)

// The host signs the requests that arrive together as one state. A flash
// crowd of N joins, one state each, would be N states of up to N
// participants that every participant checks and gossips on: N² checks
// across the room for what one state says. Each request waits its turn
// at signMu; whoever takes signMu first signs every request queued by
// then, so a request that arrives while a state is being signed and
// published goes into the next one with the others that came meanwhile.
// A request alone is signed at once, as before.

// pendingRequest is one verified request waiting to be signed, with the
// admission facts gathered for it before it queued (outside signMu: a
// member's chain check is the costly part, and it needs no lock).
type pendingRequest struct {
	req *rooms.SignedRequest
	adm rooms.Admission
	// Set under signMu by whoever signed it; read under signMu.
	done  bool
	state *rooms.SignedState
	err   error
}

// apply runs a verified request against a room this node hosts, and
// returns the state that holds its outcome (which may hold other
// requests' outcomes too).
func (s *Service) apply(req *rooms.SignedRequest, ticketBytes, passBytes []byte) (*rooms.SignedState, error) {
	adm, err := s.admission(req, ticketBytes, passBytes)
	if err != nil {
		return nil, err
	}
	p := &pendingRequest{req: req, adm: adm}
	s.pendingMu.Lock()
	s.pending = append(s.pending, p)
	s.pendingMu.Unlock()

	s.signMu.Lock()
	defer s.signMu.Unlock()
	if !p.done {
		s.pendingMu.Lock()
		batch := s.pending
		s.pending = nil
		s.pendingMu.Unlock()
		s.signBatch(batch)
	}
	return p.state, p.err
}

// admission gathers what the host knows of the requester for rooms.Apply.
func (s *Service) admission(req *rooms.SignedRequest, ticketBytes, passBytes []byte) (rooms.Admission, error) {
	adm := rooms.Admission{Member: s.isMember(req.From), Followed: s.cfg.Store.Follows(req.From),
		BlockedBy: s.blockedBy(req.Room, req.From)}
	if s.cfg.Store.Blocks(req.From) {
		adm.BlockedBy = append(adm.BlockedBy, s.self())
	}
	if len(ticketBytes) > 0 {
		t, err := rooms.ParseTicket(ticketBytes)
		if err != nil {
			return rooms.Admission{}, err
		}
		adm.Ticket = t
	}
	if err := s.admitPass(&adm, passBytes); err != nil {
		return rooms.Admission{}, err
	}
	return adm, nil
}

// signBatch applies the queued requests in the order they queued, room
// by room, and signs and publishes one state per room for all of them.
// The caller holds signMu.
func (s *Service) signBatch(batch []*pendingRequest) {
	var order []rooms.RoomID
	byRoom := map[rooms.RoomID][]*pendingRequest{}
	for _, p := range batch {
		if _, seen := byRoom[p.req.Room]; !seen {
			order = append(order, p.req.Room)
		}
		byRoom[p.req.Room] = append(byRoom[p.req.Room], p)
	}
	for _, id := range order {
		s.signRoom(id, byRoom[id])
	}
	for _, p := range batch {
		p.done = true
	}
}

// signRoom applies reqs, all for room id, one after another, each on the
// state the one before it left, and signs the result once. A request
// that fails gets its error and leaves the state as it was.
func (s *Service) signRoom(id rooms.RoomID, reqs []*pendingRequest) {
	s.mu.Lock()
	r, ok := s.rooms[id]
	var cur *rooms.SignedState
	if ok {
		cur = r.state
	}
	s.mu.Unlock()
	if !ok {
		for _, p := range reqs {
			p.err = fmt.Errorf("%w: %s is not hosted by this node", rooms.ErrUnknownRoom, id)
		}
		return
	}
	st := cur.State
	changed := false
	var admitted []*pendingRequest
	for _, p := range reqs {
		next, err := s.applyOne(&st, p)
		if err != nil {
			p.err = err
			continue
		}
		if next != nil {
			st, changed = *next, true
		}
		admitted = append(admitted, p)
	}
	signed := cur
	if changed {
		var err error
		if signed, err = rooms.SignState(s.cfg.Key, st); err == nil {
			err = s.publishState(s.ctx, signed)
		}
		if err != nil {
			for _, p := range admitted {
				p.err = err
			}
			return
		}
	}
	for _, p := range admitted {
		p.state = signed
	}
}

// applyOne runs one request against st, the room's state as the requests
// before it in the batch left it. It returns the next state, or nil when
// the request changes nothing.
func (s *Service) applyOne(st *rooms.State, p *pendingRequest) (*rooms.State, error) {
	req := p.req
	if st.Host != s.self() && !s.handedOver(st, req) {
		return nil, fmt.Errorf("%w: %s is not hosted by this node", rooms.ErrUnknownRoom, req.Room)
	}
	if req.Kind == rooms.KindJoin && st.InRoom(req.From) && st.Status != rooms.StatusEnded {
		// Someone coming back (its node restarted, or it is the old host
		// after a takeover): it is in the room already, as the state
		// says; it gets the state and asks for a place in the tree again.
		return nil, nil
	}
	next, err := rooms.Apply(*st, req.Request, p.adm)
	if err != nil {
		return nil, err
	}
	if next.Host != s.self() {
		// The host left: the successor signs the handover (rooms.Apply).
		return nil, fmt.Errorf("%w: the host is leaving; %s takes over", rooms.ErrNotAllowed, next.Host)
	}
	return &next, nil
}
