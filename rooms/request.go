package rooms

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/wire"
)

// MaxRequestSize bounds an enveloped request: its payload is a room ID, two
// peer IDs, a time and a nonce, about 300 bytes with the envelope.
const MaxRequestSize = 1 << 10

// nonceSize is the length of a request's nonce: enough that two requests
// never share one by chance.
const nonceSize = 16

// Kind is what a request asks the host to do.
type Kind uint8

const (
	KindJoin Kind = iota + 1
	KindLeave
	KindRaiseHand
	KindLowerHand
	KindInviteSpeaker
	KindAcceptInvite
	KindDeclineInvite
	KindMoveToAudience
	// KindMute mutes a speaker: the requester itself with no Target (or
	// Target == From), someone else otherwise. The permission table treats
	// the two as different actions.
	KindMute
	KindUnmuteSelf
	KindRemove
	KindMakeModerator
	KindStepDown
	KindEnd
	numKinds
)

var kindNames = [numKinds]string{KindJoin: "join", KindLeave: "leave", KindRaiseHand: "raise-hand",
	KindLowerHand: "lower-hand", KindInviteSpeaker: "invite-speaker", KindAcceptInvite: "accept-invite",
	KindDeclineInvite: "decline-invite", KindMoveToAudience: "move-to-audience", KindMute: "mute",
	KindUnmuteSelf: "unmute-self", KindRemove: "remove", KindMakeModerator: "make-moderator",
	KindStepDown: "step-down", KindEnd: "end"}

func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k Kind) valid() bool { return k >= KindJoin && k < numKinds }

// ParseKind reads a kind's name, as String writes it.
func ParseKind(s string) (Kind, error) {
	for k := KindJoin; k < numKinds; k++ {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown request kind %q", s)
}

// targetRule says whether a kind names someone else.
type targetRule uint8

const (
	noTarget targetRule = iota
	needsTarget
	mayTarget
)

func (k Kind) target() targetRule {
	switch k {
	case KindInviteSpeaker, KindMoveToAudience, KindRemove, KindMakeModerator:
		return needsTarget
	case KindMute:
		return mayTarget
	}
	return noTarget
}

// Request is one participant asking the host of a room to do something. It
// is signed by From. Time and Nonce make every request unique, so the host
// can refuse a replay (ReplayGuard) and a captured "leave" cannot be played
// back to kick someone out later.
type Request struct {
	Room   RoomID
	From   peer.ID
	Kind   Kind
	Target peer.ID
	Time   time.Time
	Nonce  []byte
}

// SignedRequest is a request with the exact envelope bytes.
type SignedRequest struct {
	Request
	Bytes []byte
}

type requestWire struct {
	V      int    `cbor:"0,keyasint"`
	Room   []byte `cbor:"1,keyasint"`
	From   []byte `cbor:"2,keyasint"`
	Kind   uint8  `cbor:"3,keyasint"`
	Target []byte `cbor:"4,keyasint,omitempty"`
	Time   int64  `cbor:"5,keyasint"`
	Nonce  []byte `cbor:"6,keyasint"`
}

func (r *Request) Domain() string { return "clubnode/room-request/v1" }
func (r *Request) Codec() []byte  { return []byte("/clubnode/room-request") }

func (r *Request) MarshalRecord() ([]byte, error) {
	return wire.Marshal(requestWire{V: Version, Room: r.Room.bytes(), From: []byte(r.From), Kind: uint8(r.Kind),
		Target: []byte(r.Target), Time: millis(r.Time), Nonce: r.Nonce})
}

func (r *Request) UnmarshalRecord(data []byte) error {
	var w requestWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	room, err := roomIDFromBytes(w.Room)
	if err != nil {
		return err
	}
	out := Request{Room: room, Kind: Kind(w.Kind), Nonce: w.Nonce}
	if out.From, err = peerFromBytes("from", w.From); err != nil {
		return err
	}
	if len(w.Target) > 0 {
		if out.Target, err = peerFromBytes("target", w.Target); err != nil {
			return err
		}
	}
	if out.Time, err = fromMillis("time", w.Time); err != nil {
		return err
	}
	*r = out
	return nil
}

// Validate says what is wrong with a request's form; whether it is allowed
// is Apply's question.
func (r *Request) Validate() error {
	if !r.Room.valid() {
		return fmt.Errorf("room id %q is not canonical", r.Room)
	}
	if r.From == "" {
		return fmt.Errorf("no sender")
	}
	if !r.Kind.valid() {
		return fmt.Errorf("unknown request kind %d", r.Kind)
	}
	switch r.Kind.target() {
	case needsTarget:
		if r.Target == "" {
			return fmt.Errorf("%s needs the peer it is about", r.Kind)
		}
		if r.Target == r.From {
			return fmt.Errorf("%s is about someone else, not the sender", r.Kind)
		}
	case noTarget:
		if r.Target != "" {
			return fmt.Errorf("%s is about the sender only, not about %s", r.Kind, r.Target)
		}
	}
	if r.Time.IsZero() {
		return fmt.Errorf("no time")
	}
	if err := checkTimes(r.Time); err != nil {
		return err
	}
	if len(r.Nonce) != nonceSize {
		return fmt.Errorf("nonce is %d bytes, want %d", len(r.Nonce), nonceSize)
	}
	return nil
}

// SignRequest signs r with key. From is set to key's peer ID if empty (and
// must be it otherwise); a fresh nonce is drawn if there is none.
func SignRequest(key crypto.PrivKey, r Request) (*SignedRequest, error) {
	signer, err := signerOf(key)
	if err != nil {
		return nil, fmt.Errorf("room request: %w", err)
	}
	if r.From == "" {
		r.From = signer
	}
	if r.From != signer {
		return nil, fmt.Errorf("room request: %w: the key is %s's, the request is from %s", ErrNotAllowed, signer, r.From)
	}
	if len(r.Nonce) == 0 {
		r.Nonce = make([]byte, nonceSize)
		if _, err := rand.Read(r.Nonce); err != nil {
			return nil, fmt.Errorf("room request: nonce: %w", err)
		}
	} else {
		r.Nonce = append([]byte(nil), r.Nonce...)
	}
	r.Time = roundTime(r.Time)
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("room request: %w", err)
	}
	data, err := seal(&r, key)
	if err != nil {
		return nil, fmt.Errorf("room request: %w", err)
	}
	return &SignedRequest{Request: r, Bytes: data}, nil
}

// ParseRequest verifies and decodes a request: size, signature (by From)
// and form.
func ParseRequest(data []byte) (*SignedRequest, error) {
	var r Request
	signer, err := open("room request", data, MaxRequestSize, &r)
	if err != nil {
		return nil, err
	}
	if signer != r.From {
		return nil, fmt.Errorf("room request: %w: signed by %s, but from %s", ErrBadSignature, signer, r.From)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("room request: %w: %v", ErrMalformed, err)
	}
	return &SignedRequest{Request: r, Bytes: append([]byte(nil), data...)}, nil
}
