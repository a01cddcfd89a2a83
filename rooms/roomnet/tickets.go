package roomnet

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/rooms"
)

// A closed room is listed to the holders of a ticket its host or creator
// signed. The issuer's node hands the ticket to the holder's node directly
// (DeliverTicket), which keeps it (Store.SaveTicket): the room then shows in
// the holder's hallway and `room join` presents the ticket by itself. When
// the holder's node cannot be reached, the issuer passes the ticket on by
// other means and the holder gives it to `room join --ticket`, whose node
// keeps it the same way.

// TicketProtocol carries one room ticket from its issuer to its holder.
const TicketProtocol protocol.ID = "/clubnode/room-ticket/1.0.0"

const maxTicketFrame = rooms.MaxTicketSize + 64

type ticketMsg struct {
	Ticket []byte `cbor:"0,keyasint"`
}

var ticketProto = noticeProtocol[ticketMsg](TicketProtocol, maxTicketFrame)

// DeliverTicket gives t, issued by this node, to its holder's node, and
// returns once that node has kept it.
func (s *Service) DeliverTicket(ctx context.Context, t *rooms.SignedTicket) error {
	return deliver(ctx, s, ticketProto, "ticket", t.Issuer, t.Holder, ticketMsg{Ticket: t.Bytes})
}

// deliver hands what this node issued (a ticket, a pass) to its holder's
// node over proto.
func deliver[M any](ctx context.Context, s *Service, proto rpc.Protocol[M, struct{}], what string, issuer, holder peer.ID, msg M) error {
	if issuer != s.self() {
		return fmt.Errorf("deliver %s: %w: it was issued by %s, not this node", what, rooms.ErrNotAllowed, issuer)
	}
	if _, err := proto.Call(ctx, s.host(), holder, msg); err != nil {
		return fmt.Errorf("deliver the %s to %s: %w", what, holder, err)
	}
	return nil
}

// receiveTicket is the holder's side: keep a ticket if it is for this
// node, comes from its issuer and opens a room this node knows of.
func (s *Service) receiveTicket(_ context.Context, from peer.ID, msg ticketMsg) (struct{}, error) {
	t, err := rooms.ParseTicket(msg.Ticket)
	if err != nil {
		return struct{}{}, err
	}
	if t.Issuer != from {
		return struct{}{}, fmt.Errorf("%w: a ticket issued by %s, delivered by %s", rooms.ErrNotAllowed, t.Issuer, from)
	}
	return struct{}{}, s.KeepTicket(t)
}

// KeepTicket stores t if it lets this node into a room it knows of now
// (from the hallway or as a participant). Knowing the room is required so
// that nobody can fill this node's store with tickets to nowhere.
func (s *Service) KeepTicket(t *rooms.SignedTicket) error {
	var host, creator peer.ID
	if st, ok := s.State(t.Room); ok {
		host, creator = st.Host, st.Creator
	} else if a, ok := s.dir.Get(t.Room); ok {
		host, creator = a.Host, a.Creator
	} else {
		return fmt.Errorf("%w: %s is not in this node's hallway", rooms.ErrUnknownRoom, t.Room)
	}
	if err := t.Check(t.Room, s.self(), s.cfg.Now(), host, creator); err != nil {
		return err
	}
	return s.cfg.Store.SaveTicket(t)
}
