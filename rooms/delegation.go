package rooms

import (
	"cmp"
	"fmt"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
)

// Distributed placement. A host that placed every listener itself would
// answer every join, every repair and every backup renewal of the room: at
// ten thousand listeners that is tens of requests a second (cmd/clubsim
// measures it). Instead the host delegates: it signs a Delegation to each
// always-on relay it keeps directly under itself, and from then on refers
// joiners to one of them (Refer). A delegate keeps a Tree rooted at
// itself, places nodes in its own subtree with the same Placer, and signs
// their assignments with the delegation inside (AssignDelegated), which
// parents check like the host's. Repairs inside a subtree go to its
// delegate, so the host hears only referrals and the rare loss of a
// delegate, whose orphans it refers to another.
//
// A parent accepts a delegated assignment only when its delegate is the
// parent itself or the delegate that placed the parent (its own
// assignment names the same placer): delegates place within their own
// subtrees only, so a delegate cannot hang children under strangers.

// MaxDelegationSize bounds an enveloped delegation (about 230 bytes).
const MaxDelegationSize = 512

// DelegationLifetime is how long a delegation lasts; the host renews it
// while the delegate stays, so a delegate that left loses its power soon.
const DelegationLifetime = time.Hour

// Delegation is the host's grant that Delegate places nodes in its own
// subtree of Room's relay tree.
type Delegation struct {
	Room     RoomID
	Host     peer.ID
	Delegate peer.ID
	Expires  time.Time
}

// SignedDelegation is a delegation with its exact envelope bytes, which go
// inside every assignment the delegate signs.
type SignedDelegation struct {
	Delegation
	Bytes []byte
}

type delegationWire struct {
	V        int    `cbor:"0,keyasint"`
	Room     []byte `cbor:"1,keyasint"`
	Host     []byte `cbor:"2,keyasint"`
	Delegate []byte `cbor:"3,keyasint"`
	Expires  int64  `cbor:"4,keyasint"`
}

func (d *Delegation) Domain() string { return "clubnode/room-delegation/v1" }
func (d *Delegation) Codec() []byte  { return []byte("/clubnode/room-delegation") }

func (d *Delegation) MarshalRecord() ([]byte, error) {
	return wire.Marshal(delegationWire{V: Version, Room: d.Room.bytes(), Host: []byte(d.Host),
		Delegate: []byte(d.Delegate), Expires: millis(d.Expires)})
}

func (d *Delegation) UnmarshalRecord(data []byte) error {
	var w delegationWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	room, err := roomIDFromBytes(w.Room)
	if err != nil {
		return err
	}
	out := Delegation{Room: room}
	if out.Host, err = peerFromBytes("host", w.Host); err != nil {
		return err
	}
	if out.Delegate, err = peerFromBytes("delegate", w.Delegate); err != nil {
		return err
	}
	if out.Expires, err = fromMillis("expires", w.Expires); err != nil {
		return err
	}
	if out.Expires.IsZero() || out.Host == out.Delegate {
		return fmt.Errorf("%w: a delegation needs an expiry and a delegate other than the host", ErrMalformed)
	}
	*d = out
	return nil
}

// Delegate signs the host's grant that delegate places nodes in its
// subtree, for DelegationLifetime from now. key must be the room's host's.
func Delegate(key crypto.PrivKey, room RoomID, delegate peer.ID, now time.Time) (*SignedDelegation, error) {
	host, err := signerOf(key)
	if err != nil {
		return nil, fmt.Errorf("delegation: %w", err)
	}
	if !room.valid() || delegate == "" || delegate == host {
		return nil, fmt.Errorf("delegation: %w: room %q, delegate %q", ErrMalformed, room, delegate)
	}
	d := Delegation{Room: room, Host: host, Delegate: delegate, Expires: roundTime(now.Add(DelegationLifetime))}
	data, err := seal(&d, key)
	if err != nil {
		return nil, fmt.Errorf("delegation: %w", err)
	}
	return &SignedDelegation{Delegation: d, Bytes: data}, nil
}

// ParseDelegation verifies and decodes a delegation.
func ParseDelegation(data []byte) (*SignedDelegation, error) {
	var d Delegation
	signer, err := open("delegation", data, MaxDelegationSize, &d)
	if err != nil {
		return nil, err
	}
	if signer != d.Host {
		return nil, fmt.Errorf("delegation: %w: signed by %s, but names host %s", ErrBadSignature, signer, d.Host)
	}
	return &SignedDelegation{Delegation: d, Bytes: append([]byte(nil), data...)}, nil
}

// Check says whether the delegation is in force in the room whose current
// host is host, at now.
func (d *Delegation) Check(room RoomID, host peer.ID, now time.Time) error {
	switch {
	case d.Room != room:
		return fmt.Errorf("delegation: %w: it is for %s", ErrUnknownRoom, d.Room)
	case d.Host != host:
		return fmt.Errorf("delegation: %w: signed by %s, but the room's host is %s", ErrNotAllowed, d.Host, host)
	case !now.Before(d.Expires.Add(identity.ClockSkew)):
		return fmt.Errorf("delegation: %w at %s", ErrExpired, d.Expires.Format(time.RFC3339))
	}
	return nil
}

// DelegateLoad is what the host knows of a delegate when referring a
// joiner: the nodes in its subtree (from the subtree counts its heartbeats
// carry), how many it may carry, and its coordinate.
type DelegateLoad struct {
	ID       peer.ID
	Subtree  int
	Capacity int // the subtree it will take; 0 means no limit
	Coord    Coord
	HasCoord bool
}

// referSlack is how much fuller than the emptiest delegate a delegate may
// be and still be chosen for being nearer: balance keeps the subtrees,
// and so their depths, alike; nearness keeps the stretch low.
const referSlack = 1.25

// Refer picks the delegate a joiner with traits t should ask for a parent:
// of the delegates not full and at most referSlack times (plus a few) as
// loaded as the emptiest, the nearest; ties go to the less loaded, then
// the smaller peer ID. False when there is none.
func Refer(delegates []DelegateLoad, t Traits) (peer.ID, bool) {
	least := math.MaxInt
	for _, d := range delegates {
		if d.Capacity <= 0 || d.Subtree < d.Capacity {
			least = min(least, d.Subtree)
		}
	}
	if least == math.MaxInt {
		return "", false
	}
	var best *DelegateLoad
	var bestRTT float64
	for i := range delegates {
		d := &delegates[i]
		if (d.Capacity > 0 && d.Subtree >= d.Capacity) || float64(d.Subtree) > referSlack*float64(least)+8 {
			continue
		}
		rtt := math.Inf(1)
		if d.HasCoord && t.HasCoord {
			rtt = EstimateRTT(d.Coord, t.Coord)
		}
		if best == nil || cmp.Or(cmp.Compare(rtt, bestRTT), cmp.Compare(d.Subtree, best.Subtree), cmp.Compare(d.ID, best.ID)) < 0 {
			best, bestRTT = d, rtt
		}
	}
	return best.ID, true
}
