package rooms

import (
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
)

// MaxAssignmentSize bounds an enveloped assignment: about 300 bytes, 470
// with three backups, 740 with a delegation inside too.
const MaxAssignmentSize = 1 << 10

// AssignmentLifetime is how long an assignment may be presented: long
// enough to open the link, short enough that an old one is useless.
const AssignmentLifetime = 30 * time.Second

// BackupLifetime is how long the backup parents of an assignment accept
// the child. A backup is for a failure that may come any time in the
// session, so it lasts much longer than the assignment; the child asks for
// fresh ones before they expire, when it fails over, and when a backup
// goes away.
const BackupLifetime = 30 * time.Minute

// Assignment is the host's word that Child hangs under Parent in Room's
// relay tree. A parent carries only children that present one: nobody can
// attach to a relay (and take its uplink) without the host's say.
//
// The fields after Expires are optional and absent from the encoding when
// empty, so an assignment without them is byte for byte what nodes before
// them made and accept. Nodes before them refuse an assignment with them
// (the decoder refuses unknown fields): a host hands backups and a
// delegate signs only for nodes whose place request says they understand.
type Assignment struct {
	Room    RoomID
	Host    peer.ID
	Child   peer.ID
	Parent  peer.ID
	Expires time.Time
	// Backups are parents the child may link to, best first, when Parent is
	// lost, without asking the host: each accepts the child by CheckBackup
	// until BackupsExpire. See backups.go.
	Backups       []peer.ID
	BackupsExpire time.Time
	// Delegation is the host's grant under which a delegate signed this
	// assignment; nil when the host signed it. See delegation.go.
	Delegation *SignedDelegation
}

// SignedAssignment is an assignment with its exact envelope bytes, which
// the child presents to its parent.
type SignedAssignment struct {
	Assignment
	Bytes []byte
}

type assignmentWire struct {
	V             int      `cbor:"0,keyasint"`
	Room          []byte   `cbor:"1,keyasint"`
	Host          []byte   `cbor:"2,keyasint"`
	Child         []byte   `cbor:"3,keyasint"`
	Parent        []byte   `cbor:"4,keyasint"`
	Expires       int64    `cbor:"5,keyasint"`
	Backups       [][]byte `cbor:"6,keyasint,omitempty"`
	BackupsExpire int64    `cbor:"7,keyasint,omitempty"`
	Delegation    []byte   `cbor:"8,keyasint,omitempty"`
}

func (a *Assignment) Domain() string { return "clubnode/room-assignment/v1" }
func (a *Assignment) Codec() []byte  { return []byte("/clubnode/room-assignment") }

func (a *Assignment) MarshalRecord() ([]byte, error) {
	w := assignmentWire{V: Version, Room: a.Room.bytes(), Host: []byte(a.Host), Child: []byte(a.Child),
		Parent: []byte(a.Parent), Expires: millis(a.Expires), Backups: peersToBytes(a.Backups),
		BackupsExpire: millis(a.BackupsExpire)}
	if a.Delegation != nil {
		w.Delegation = a.Delegation.Bytes
	}
	return wire.Marshal(w)
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
	if err := out.decodeOptional(w); err != nil {
		return err
	}
	*a = out
	return nil
}

// decodeOptional decodes and checks the backups and the delegation.
func (a *Assignment) decodeOptional(w assignmentWire) error {
	if len(w.Backups) > MaxBackups {
		return fmt.Errorf("%w: %d backups, at most %d", ErrMalformed, len(w.Backups), MaxBackups)
	}
	var err error
	if a.Backups, err = peersFromBytes("backup", w.Backups); err != nil {
		return err
	}
	if a.BackupsExpire, err = fromMillis("backups expire", w.BackupsExpire); err != nil {
		return err
	}
	if err := checkBackups(a.Child, a.Parent, a.Backups, a.BackupsExpire); err != nil {
		return err
	}
	if w.Delegation == nil {
		return nil
	}
	if a.Delegation, err = ParseDelegation(w.Delegation); err != nil {
		return fmt.Errorf("assignment: %w", err)
	}
	if a.Delegation.Room != a.Room || a.Delegation.Host != a.Host {
		return fmt.Errorf("%w: the delegation is for another room or host", ErrMalformed)
	}
	return nil
}

// checkBackups: distinct backups other than the child and its parent, with
// an expiry exactly when there are any.
func checkBackups(child, parent peer.ID, backups []peer.ID, expire time.Time) error {
	if (len(backups) == 0) != expire.IsZero() {
		return fmt.Errorf("%w: backups and their expiry go together", ErrMalformed)
	}
	for i, b := range backups {
		if b == "" || b == child || b == parent || slices.Contains(backups[:i], b) {
			return fmt.Errorf("%w: backup %q repeats the child, the parent or another backup", ErrMalformed, b)
		}
	}
	return nil
}

// Assign signs the placement of child under parent, valid for
// AssignmentLifetime from now. key must be the room's host's.
func Assign(key crypto.PrivKey, room RoomID, child, parent peer.ID, now time.Time) (*SignedAssignment, error) {
	return AssignWithBackups(key, room, child, parent, nil, now)
}

// AssignWithBackups is Assign with backup parents, valid for
// BackupLifetime from now.
func AssignWithBackups(key crypto.PrivKey, room RoomID, child, parent peer.ID, backups []peer.ID, now time.Time) (*SignedAssignment, error) {
	host, err := signerOf(key)
	if err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	return assign(key, Assignment{Room: room, Host: host, Child: child, Parent: parent, Backups: backups}, now)
}

// AssignDelegated is a delegate's assignment of child under parent (in the
// delegate's subtree), with backups, under the host's delegation d. key
// must be the delegate's.
func AssignDelegated(key crypto.PrivKey, d *SignedDelegation, child, parent peer.ID, backups []peer.ID, now time.Time) (*SignedAssignment, error) {
	signer, err := signerOf(key)
	if err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	if d == nil || signer != d.Delegate {
		return nil, fmt.Errorf("assignment: %w: the key is not the delegation's delegate", ErrNotAllowed)
	}
	return assign(key, Assignment{Room: d.Room, Host: d.Host, Child: child, Parent: parent, Backups: backups,
		Delegation: d}, now)
}

func assign(key crypto.PrivKey, a Assignment, now time.Time) (*SignedAssignment, error) {
	if !a.Room.valid() || a.Child == "" || a.Parent == "" || a.Child == a.Parent || len(a.Backups) > MaxBackups {
		return nil, fmt.Errorf("assignment: %w: room %q, child %q, parent %q, %d backups", ErrMalformed,
			a.Room, a.Child, a.Parent, len(a.Backups))
	}
	a.Expires = roundTime(now.Add(AssignmentLifetime))
	if len(a.Backups) > 0 {
		a.Backups = slices.Clone(a.Backups)
		a.BackupsExpire = roundTime(now.Add(BackupLifetime))
	} else {
		a.Backups = nil
	}
	if err := checkBackups(a.Child, a.Parent, a.Backups, a.BackupsExpire); err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	data, err := seal(&a, key)
	if err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	return &SignedAssignment{Assignment: a, Bytes: data}, nil
}

// Placer is who placed the child: the delegate that signed the
// assignment, or the host.
func (a *Assignment) Placer() peer.ID {
	if a.Delegation != nil {
		return a.Delegation.Delegate
	}
	return a.Host
}

// ParseAssignment verifies and decodes an assignment. Whether it lets a
// given child attach to a given parent now is Check's question.
func ParseAssignment(data []byte) (*SignedAssignment, error) {
	var a Assignment
	signer, err := open("assignment", data, MaxAssignmentSize, &a)
	if err != nil {
		return nil, err
	}
	if signer != a.Placer() {
		return nil, fmt.Errorf("assignment: %w: signed by %s, but placed by %s", ErrBadSignature, signer, a.Placer())
	}
	return &SignedAssignment{Assignment: a, Bytes: append([]byte(nil), data...)}, nil
}

// Check says whether the assignment lets child hang under parent in the
// room whose current host is host, at now.
func (a *Assignment) Check(room RoomID, host, child, parent peer.ID, now time.Time) error {
	if err := a.checkFor(room, host, child, now); err != nil {
		return err
	}
	switch {
	case a.Parent != parent:
		return fmt.Errorf("assignment: %w: it places the child under %s, not here", ErrNotAllowed, a.Parent)
	case !now.Before(a.Expires.Add(identity.ClockSkew)):
		return fmt.Errorf("assignment: %w at %s", ErrExpired, a.Expires.Format(time.RFC3339))
	}
	return nil
}

// CheckBackup says whether the assignment lets child fail over to parent
// as one of its backups, at now: what a backup parent checks before it
// takes a child without asking the host. The backup must also have room,
// and must not be below the child (see backups.go); only it knows that.
func (a *Assignment) CheckBackup(room RoomID, host, child, parent peer.ID, now time.Time) error {
	if err := a.checkFor(room, host, child, now); err != nil {
		return err
	}
	switch {
	case !slices.Contains(a.Backups, parent):
		return fmt.Errorf("assignment: %w: %s is not one of the child's backups", ErrNotAllowed, parent)
	case !now.Before(a.BackupsExpire.Add(identity.ClockSkew)):
		return fmt.Errorf("assignment: backups %w at %s", ErrExpired, a.BackupsExpire.Format(time.RFC3339))
	}
	return nil
}

// checkFor checks what Check and CheckBackup share: room, host, child and
// the delegation.
func (a *Assignment) checkFor(room RoomID, host, child peer.ID, now time.Time) error {
	switch {
	case a.Room != room:
		return fmt.Errorf("assignment: %w: it is for %s", ErrUnknownRoom, a.Room)
	case a.Host != host:
		return fmt.Errorf("assignment: %w: signed by %s, but the room's host is %s", ErrNotAllowed, a.Host, host)
	case a.Child != child:
		return fmt.Errorf("assignment: %w: it places %s, not %s", ErrNotAllowed, a.Child, child)
	}
	if a.Delegation != nil {
		return a.Delegation.Check(room, host, now)
	}
	return nil
}
