package rooms

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
)

// SignedState is a state with the exact envelope bytes that carry it, which
// is what a participant passes on down the relay tree.
type SignedState struct {
	State
	Bytes []byte
}

type stateWire struct {
	V          int           `cbor:"0,keyasint"`
	Room       []byte        `cbor:"1,keyasint"`
	Network    string        `cbor:"2,keyasint"`
	Title      string        `cbor:"3,keyasint"`
	Type       uint8         `cbor:"4,keyasint"`
	Creator    []byte        `cbor:"5,keyasint"`
	Start      int64         `cbor:"6,keyasint,omitempty"`
	Status     uint8         `cbor:"7,keyasint"`
	Host       []byte        `cbor:"8,keyasint"`
	Version    uint64        `cbor:"9,keyasint"`
	Moderators [][]byte      `cbor:"10,keyasint,omitempty"`
	Speakers   []speakerWire `cbor:"11,keyasint,omitempty"`
	Audience   [][]byte      `cbor:"12,keyasint,omitempty"`
	Hands      [][]byte      `cbor:"13,keyasint,omitempty"`
	Invited    [][]byte      `cbor:"14,keyasint,omitempty"`
	Banned     [][]byte      `cbor:"15,keyasint,omitempty"`
	Updated    int64         `cbor:"16,keyasint"`
}

// speakerWire is an array, not a map: there are up to MaxStage of them.
type speakerWire struct {
	_     struct{} `cbor:",toarray"`
	Peer  []byte
	Muted bool
}

func (s *State) Domain() string { return "clubnode/room-state/v1" }
func (s *State) Codec() []byte  { return []byte("/clubnode/room-state") }

func (s *State) MarshalRecord() ([]byte, error) {
	w := stateWire{V: Version, Room: s.Room.bytes(), Network: string(s.Network), Title: s.Title,
		Type: uint8(s.Type), Creator: []byte(s.Creator), Start: millis(s.Start), Status: uint8(s.Status),
		Host: []byte(s.Host), Version: s.Version, Moderators: peersToBytes(s.Moderators),
		Audience: peersToBytes(s.Audience), Hands: peersToBytes(s.Hands), Invited: peersToBytes(s.Invited),
		Banned: peersToBytes(s.Banned), Updated: millis(s.Updated)}
	for _, sp := range s.Speakers {
		w.Speakers = append(w.Speakers, speakerWire{Peer: []byte(sp.Peer), Muted: sp.Muted})
	}
	return wire.Marshal(w)
}

func (s *State) UnmarshalRecord(data []byte) error {
	var w stateWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	room, err := roomIDFromBytes(w.Room)
	if err != nil {
		return err
	}
	out := State{Room: room, Network: identity.NetworkID(w.Network), Title: w.Title, Type: RoomType(w.Type),
		Status: Status(w.Status), Version: w.Version}
	if out.Creator, err = peerFromBytes("creator", w.Creator); err != nil {
		return err
	}
	if out.Host, err = peerFromBytes("host", w.Host); err != nil {
		return err
	}
	if out.Start, err = fromMillis("start", w.Start); err != nil {
		return err
	}
	if out.Updated, err = fromMillis("updated", w.Updated); err != nil {
		return err
	}
	for _, l := range []struct {
		name string
		in   [][]byte
		out  *[]peer.ID
	}{{"moderators", w.Moderators, &out.Moderators}, {"audience", w.Audience, &out.Audience},
		{"raised hands", w.Hands, &out.Hands}, {"invitations", w.Invited, &out.Invited},
		{"ban list", w.Banned, &out.Banned}} {
		if *l.out, err = peersFromBytes(l.name, l.in); err != nil {
			return err
		}
	}
	for _, sw := range w.Speakers {
		p, err := peerFromBytes("stage", sw.Peer)
		if err != nil {
			return err
		}
		out.Speakers = append(out.Speakers, Speaker{Peer: p, Muted: sw.Muted})
	}
	*s = out
	return nil
}

// SignState signs s with key, which must be the key of s.Host: a state is
// always signed by the host it names. (A host handing over or a moderator
// taking over: the new host signs; see Accept.) The times are rounded to
// what the wire carries, so the result equals what a parser will see.
func SignState(key crypto.PrivKey, s State) (*SignedState, error) {
	signer, err := signerOf(key)
	if err != nil {
		return nil, fmt.Errorf("room state: %w", err)
	}
	if signer != s.Host {
		return nil, fmt.Errorf("room state: %w: the key is %s's, the host is %s", ErrNotAllowed, signer, s.Host)
	}
	s = s.Clone()
	s.Start, s.Updated = roundTime(s.Start), roundTime(s.Updated)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("room state: %w", err)
	}
	data, err := seal(&s, key)
	if err != nil {
		return nil, fmt.Errorf("room state: %w", err)
	}
	if len(data) > MaxStateSize {
		return nil, fmt.Errorf("room state: %w (%d bytes, limit %d)", ErrTooLarge, len(data), MaxStateSize)
	}
	return &SignedState{State: s, Bytes: data}, nil
}

// ParseState verifies and decodes a room state: size, signature (by the
// host the state names), version and invariants. Whether it may follow the
// state already held is Accept's question.
func ParseState(data []byte) (*SignedState, error) {
	var s State
	signer, err := open("room state", data, MaxStateSize, &s)
	if err != nil {
		return nil, err
	}
	if signer != s.Host {
		return nil, fmt.Errorf("room state: %w: signed by %s, but the host is %s", ErrBadSignature, signer, s.Host)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("room state: %w: %v", ErrMalformed, err)
	}
	return &SignedState{State: s, Bytes: append([]byte(nil), data...)}, nil
}
