package rooms

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
)

// MaxAssignmentSize bounds an enveloped assignment (about 300 bytes).
const MaxAssignmentSize = 1 << 10

// AssignmentLifetime is how long an assignment may be presented: long
// enough to open the link, short enough that an old one is useless.
const AssignmentLifetime = 30 * time.Second

// Assignment is the host's word that Child hangs under Parent in Room's
// relay tree. A parent carries only children that present one: nobody can
// attach to a relay (and take its uplink) without the host's say.
type Assignment struct {
	Room    RoomID
	Host    peer.ID
	Child   peer.ID
	Parent  peer.ID
	Expires time.Time
}

// SignedAssignment is an assignment with its exact envelope bytes, which
// the child presents to its parent.
type SignedAssignment struct {
	Assignment
	Bytes []byte
}

type assignmentWire struct {
	V       int    `cbor:"0,keyasint"`
	Room    []byte `cbor:"1,keyasint"`
	Host    []byte `cbor:"2,keyasint"`
	Child   []byte `cbor:"3,keyasint"`
	Parent  []byte `cbor:"4,keyasint"`
	Expires int64  `cbor:"5,keyasint"`
}

func (a *Assignment) Domain() string { return "clubnode/room-assignment/v1" }
func (a *Assignment) Codec() []byte  { return []byte("/clubnode/room-assignment") }

func (a *Assignment) MarshalRecord() ([]byte, error) {
	return wire.Marshal(assignmentWire{V: Version, Room: a.Room.bytes(), Host: []byte(a.Host),
		Child: []byte(a.Child), Parent: []byte(a.Parent), Expires: millis(a.Expires)})
}

func (a *Assignment) UnmarshalRecord(data []byte) error {
	var w assignmentWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	room, err := roomIDFromBytes(w.Room)
	if err != nil {
		return err
	}
	out := Assignment{Room: room}
	if out.Host, err = peerFromBytes("host", w.Host); err != nil {
		return err
	}
	if out.Child, err = peerFromBytes("child", w.Child); err != nil {
		return err
	}
	if out.Parent, err = peerFromBytes("parent", w.Parent); err != nil {
		return err
	}
	if out.Expires, err = fromMillis("expires", w.Expires); err != nil {
		return err
	}
	if out.Expires.IsZero() || out.Child == out.Parent {
		return fmt.Errorf("%w: an assignment needs an expiry and a parent other than the child", ErrMalformed)
	}
	*a = out
	return nil
}

// Assign signs the placement of child under parent, valid for
// AssignmentLifetime from now. key must be the room's host's.
func Assign(key crypto.PrivKey, room RoomID, child, parent peer.ID, now time.Time) (*SignedAssignment, error) {
	host, err := signerOf(key)
	if err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	if !room.valid() || child == "" || parent == "" || child == parent {
		return nil, fmt.Errorf("assignment: %w: room %q, child %q, parent %q", ErrMalformed, room, child, parent)
	}
	a := Assignment{Room: room, Host: host, Child: child, Parent: parent,
		Expires: roundTime(now.Add(AssignmentLifetime))}
	data, err := seal(&a, key)
	if err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	return &SignedAssignment{Assignment: a, Bytes: data}, nil
}

// ParseAssignment verifies and decodes an assignment. Whether it lets a
// given child attach to a given parent now is Check's question.
func ParseAssignment(data []byte) (*SignedAssignment, error) {
	var a Assignment
	signer, err := open("assignment", data, MaxAssignmentSize, &a)
	if err != nil {
		return nil, err
	}
	if signer != a.Host {
		return nil, fmt.Errorf("assignment: %w: signed by %s, but names host %s", ErrBadSignature, signer, a.Host)
	}
	return &SignedAssignment{Assignment: a, Bytes: append([]byte(nil), data...)}, nil
}

// Check says whether the assignment lets child hang under parent in the
// room whose current host is host, at now.
func (a *Assignment) Check(room RoomID, host, child, parent peer.ID, now time.Time) error {
	switch {
	case a.Room != room:
		return fmt.Errorf("assignment: %w: it is for %s", ErrUnknownRoom, a.Room)
	case a.Host != host:
		return fmt.Errorf("assignment: %w: signed by %s, but the room's host is %s", ErrNotAllowed, a.Host, host)
	case a.Child != child:
		return fmt.Errorf("assignment: %w: it places %s, not %s", ErrNotAllowed, a.Child, child)
	case a.Parent != parent:
		return fmt.Errorf("assignment: %w: it places the child under %s, not here", ErrNotAllowed, a.Parent)
	case !now.Before(a.Expires.Add(identity.ClockSkew)):
		return fmt.Errorf("assignment: %w at %s", ErrExpired, a.Expires.Format(time.RFC3339))
	}
	return nil
}
