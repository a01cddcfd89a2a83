package rooms

import (
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"

	"github.com/clubnode/clubnode/internal/wire"
)

// MaxTicketSize bounds an enveloped room ticket (about 250 bytes).
const MaxTicketSize = 1 << 10

// Ticket lets Holder find and join the closed room Room until Expires. It
// is signed by Issuer, who must be the room's creator or current host for
// the ticket to count: the creator, so tickets survive a takeover; the
// current host, so a new host can let new people in.
type Ticket struct {
	Room    RoomID
	Holder  peer.ID
	Issuer  peer.ID
	Expires time.Time
}

// SignedTicket is a ticket with the exact envelope bytes, which is what the
// issuer gives the holder and the holder presents when joining.
type SignedTicket struct {
	Ticket
	Bytes []byte
}

type ticketWire struct {
	V       int    `cbor:"0,keyasint"`
	Room    []byte `cbor:"1,keyasint"`
	Holder  []byte `cbor:"2,keyasint"`
	Issuer  []byte `cbor:"3,keyasint"`
	Expires int64  `cbor:"4,keyasint"`
}

func (t *Ticket) Domain() string { return "clubnode/room-ticket/v1" }
func (t *Ticket) Codec() []byte  { return []byte("/clubnode/room-ticket") }

func (t *Ticket) MarshalRecord() ([]byte, error) {
	return wire.Marshal(ticketWire{V: Version, Room: t.Room.bytes(), Holder: []byte(t.Holder),
		Issuer: []byte(t.Issuer), Expires: millis(t.Expires)})
}

func (t *Ticket) UnmarshalRecord(data []byte) error {
	var w ticketWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	room, err := roomIDFromBytes(w.Room)
	if err != nil {
		return err
	}
	out := Ticket{Room: room}
	if out.Holder, out.Issuer, out.Expires, err = decodeGrant("ticket", w.Holder, w.Issuer, w.Expires); err != nil {
		return err
	}
	*t = out
	return nil
}

// IssueTicket signs a ticket for holder to room, valid until expires.
func IssueTicket(key crypto.PrivKey, room RoomID, holder peer.ID, expires, now time.Time) (*SignedTicket, error) {
	issuer, err := checkIssue("room ticket", key, holder, expires, now)
	if err != nil {
		return nil, err
	}
	if !room.valid() {
		return nil, fmt.Errorf("room ticket: %w: room %q", ErrMalformed, room)
	}
	t := Ticket{Room: room, Holder: holder, Issuer: issuer, Expires: roundTime(expires)}
	data, err := seal(&t, key)
	if err != nil {
		return nil, fmt.Errorf("room ticket: %w", err)
	}
	return &SignedTicket{Ticket: t, Bytes: data}, nil
}

// checkIssue checks what every issued object (ticket, pass) needs: a
// signer, a holder, an expiry in the future. It returns the signer.
func checkIssue(what string, key crypto.PrivKey, holder peer.ID, expires, now time.Time) (peer.ID, error) {
	issuer, err := signerOf(key)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if holder == "" {
		return "", fmt.Errorf("%s: %w: no holder", what, ErrMalformed)
	}
	if err := checkTimes(expires); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if !expires.After(now) {
		return "", fmt.Errorf("%s: expiry %s is not in the future", what, expires.Format(time.RFC3339))
	}
	return issuer, nil
}

// openIssued opens an issued object's envelope and checks that its
// issuer signed it.
func openIssued(what string, data []byte, limit int, rec record.Record, issuer func() peer.ID) error {
	signer, err := open(what, data, limit, rec)
	if err != nil {
		return err
	}
	if signer != issuer() {
		return fmt.Errorf("%s: %w: signed by %s, but issued by %s", what, ErrBadSignature, signer, issuer())
	}
	return nil
}

// ParseTicket verifies and decodes a ticket. Whether it opens a given room
// for a given peer now is Check's question.
func ParseTicket(data []byte) (*SignedTicket, error) {
	var t Ticket
	if err := openIssued("room ticket", data, MaxTicketSize, &t, func() peer.ID { return t.Issuer }); err != nil {
		return nil, err
	}
	return &SignedTicket{Ticket: t, Bytes: append([]byte(nil), data...)}, nil
}

// Check says whether the ticket lets holder into room at now, given who may
// issue tickets for it (the room's host and creator).
func (t *Ticket) Check(room RoomID, holder peer.ID, now time.Time, issuers ...peer.ID) error {
	switch {
	case t.Room != room:
		return fmt.Errorf("room ticket: %w: it is for %s", ErrUnknownRoom, t.Room)
	case t.Holder != holder:
		return fmt.Errorf("room ticket: %w: it is %s's, not %s's", ErrNotAllowed, t.Holder, holder)
	case !slices.Contains(issuers, t.Issuer):
		return fmt.Errorf("room ticket: %w: issued by %s, who is neither the room's host nor its creator", ErrNotAllowed, t.Issuer)
	case !now.Before(t.Expires):
		return fmt.Errorf("room ticket: %w at %s", ErrExpired, t.Expires.Format(time.RFC3339))
	}
	return nil
}

// decodeGrant reads what tickets and supporter passes share: who holds
// it, who issued it, and an expiry it must have.
func decodeGrant(kind string, holder, issuer []byte, expires int64) (h, i peer.ID, exp time.Time, err error) {
	if h, err = peerFromBytes("holder", holder); err != nil {
		return
	}
	if i, err = peerFromBytes("issuer", issuer); err != nil {
		return
	}
	if exp, err = fromMillis("expires", expires); err != nil {
		return
	}
	if exp.IsZero() {
		err = fmt.Errorf("%w: a %s needs an expiry", ErrMalformed, kind)
	}
	return
}
