package rooms

import (
	"bytes"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
)

// MaxAnnouncementSize bounds an enveloped announcement: a full stage listed
// twice (speakers, moderators) at about 40 bytes a peer (5.2 KB), a title of
// up to 400 bytes, a social room's MaxFollowTags follow tags (8 KB) and the
// envelope fit in 16 KiB.
const MaxAnnouncementSize = 16 << 10

// Announcement is what the hallway shows of a room. The host re-publishes it
// on an interval with a higher Seq; every directory drops it at Expires (or
// after its own TTL) if no newer one comes, so a dead host's room vanishes
// by itself.
//
// Moderators are listed so a directory can apply the takeover rule of room
// states (a new host must have been a moderator) without the state; Creator
// so it can check room tickets the creator signed. Followed, in social rooms
// only, holds the follow tags of the members the host follows (follow.go).
type Announcement struct {
	Room       RoomID
	Network    identity.NetworkID
	Title      string
	Type       RoomType
	Host       peer.ID
	Creator    peer.ID
	Moderators []peer.ID
	Speakers   []peer.ID
	Listeners  uint32
	Status     Status
	Start      time.Time
	Seq        uint64
	Expires    time.Time
	Followed   []byte
	// Version is the version of the room's state the host announces: a
	// takeover raises it, so when two nodes announce one room (a host
	// that was only out of reach, and the moderator that took over) every
	// directory keeps the one with the higher version, as room states do.
	Version uint64
}

// SignedAnnouncement is an announcement with the exact envelope bytes, as
// published on gossip.
type SignedAnnouncement struct {
	Announcement
	Bytes []byte
}

type announcementWire struct {
	V          int      `cbor:"0,keyasint"`
	Room       []byte   `cbor:"1,keyasint"`
	Network    string   `cbor:"2,keyasint"`
	Title      string   `cbor:"3,keyasint"`
	Type       uint8    `cbor:"4,keyasint"`
	Host       []byte   `cbor:"5,keyasint"`
	Creator    []byte   `cbor:"6,keyasint"`
	Moderators [][]byte `cbor:"7,keyasint,omitempty"`
	Speakers   [][]byte `cbor:"8,keyasint,omitempty"`
	Listeners  uint32   `cbor:"9,keyasint"`
	Status     uint8    `cbor:"10,keyasint"`
	Start      int64    `cbor:"11,keyasint,omitempty"`
	Seq        uint64   `cbor:"12,keyasint"`
	Expires    int64    `cbor:"13,keyasint"`
	Followed   []byte   `cbor:"14,keyasint,omitempty"`
	Version    uint64   `cbor:"15,keyasint,omitempty"`
}

func (a *Announcement) Domain() string { return "clubnode/room-announcement/v1" }
func (a *Announcement) Codec() []byte  { return []byte("/clubnode/room-announcement") }

func (a *Announcement) MarshalRecord() ([]byte, error) {
	return wire.Marshal(announcementWire{V: Version, Room: a.Room.bytes(), Network: string(a.Network),
		Title: a.Title, Type: uint8(a.Type), Host: []byte(a.Host), Creator: []byte(a.Creator),
		Moderators: peersToBytes(a.Moderators), Speakers: peersToBytes(a.Speakers), Listeners: a.Listeners,
		Status: uint8(a.Status), Start: millis(a.Start), Seq: a.Seq, Expires: millis(a.Expires),
		Followed: a.Followed, Version: a.Version})
}

func (a *Announcement) UnmarshalRecord(data []byte) error {
	var w announcementWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	room, err := roomIDFromBytes(w.Room)
	if err != nil {
		return err
	}
	out := Announcement{Room: room, Network: identity.NetworkID(w.Network), Title: w.Title, Type: RoomType(w.Type),
		Listeners: w.Listeners, Status: Status(w.Status), Seq: w.Seq, Version: w.Version}
	if len(w.Followed) > 0 {
		out.Followed = w.Followed
	}
	if out.Host, err = peerFromBytes("host", w.Host); err != nil {
		return err
	}
	if out.Creator, err = peerFromBytes("creator", w.Creator); err != nil {
		return err
	}
	if out.Moderators, err = peersFromBytes("moderators", w.Moderators); err != nil {
		return err
	}
	if out.Speakers, err = peersFromBytes("speakers", w.Speakers); err != nil {
		return err
	}
	if out.Start, err = fromMillis("start", w.Start); err != nil {
		return err
	}
	if out.Expires, err = fromMillis("expires", w.Expires); err != nil {
		return err
	}
	*a = out
	return nil
}

// Validate says what is wrong with an announcement's form.
func (a *Announcement) Validate() error {
	if !a.Room.valid() {
		return fmt.Errorf("room id %q is not canonical", a.Room)
	}
	if a.Network == "" {
		return fmt.Errorf("no network")
	}
	if err := validateTitle(a.Title); err != nil {
		return err
	}
	if !a.Type.valid() || !a.Status.valid() {
		return fmt.Errorf("unknown room type %d or status %d", a.Type, a.Status)
	}
	if a.Host == "" || a.Creator == "" {
		return fmt.Errorf("no host or no creator")
	}
	if a.Seq == 0 || a.Expires.IsZero() {
		return fmt.Errorf("sequence numbers start at 1, and an announcement needs an expiry")
	}
	if err := checkTimes(a.Start, a.Expires); err != nil {
		return err
	}
	if len(a.Followed) > 0 && a.Type != TypeSocial {
		return fmt.Errorf("a %s room lists follow tags; only social rooms do", a.Type)
	}
	if len(a.Followed)%FollowTagSize != 0 || len(a.Followed) > MaxFollowTags*FollowTagSize {
		return fmt.Errorf("follow tags are %d bytes: want a multiple of %d, at most %d tags",
			len(a.Followed), FollowTagSize, MaxFollowTags)
	}
	if len(a.Speakers) > MaxStage {
		return fmt.Errorf("%d speakers, limit %d", len(a.Speakers), MaxStage)
	}
	where := make(map[peer.ID]string, len(a.Speakers))
	for _, p := range a.Speakers {
		if err := place(where, p, "stage"); err != nil {
			return err
		}
	}
	if err := subset("moderators", a.Moderators, where, "stage"); err != nil {
		return err
	}
	for _, m := range a.Moderators {
		if m == a.Host {
			return nil
		}
	}
	return fmt.Errorf("host %s is not a moderator", a.Host)
}

// AnnouncementOf is what the host publishes for state s.
func AnnouncementOf(s *State, seq uint64, expires time.Time) Announcement {
	a := Announcement{Room: s.Room, Network: s.Network, Title: s.Title, Type: s.Type, Host: s.Host,
		Creator: s.Creator, Moderators: append([]peer.ID(nil), s.Moderators...), Status: s.Status,
		Start: s.Start, Seq: seq, Expires: expires, Listeners: uint32(len(s.Audience)), Version: s.Version}
	for _, sp := range s.Speakers {
		a.Speakers = append(a.Speakers, sp.Peer)
	}
	return a
}

// NextSeq is the sequence number to publish after last: the time in
// milliseconds, or last+1 if the clock is behind. Using the time means a
// moderator taking over, which may have missed the last few announcements,
// still publishes numbers above the old host's (clocks permitting), and a
// host that restarts without its counter does too.
func NextSeq(last uint64, now time.Time) uint64 {
	if ms := now.UnixMilli(); ms > 0 && uint64(ms) > last {
		return uint64(ms)
	}
	return last + 1
}

// SignAnnouncement signs a with key, which must be a.Host's.
func SignAnnouncement(key crypto.PrivKey, a Announcement) (*SignedAnnouncement, error) {
	signer, err := signerOf(key)
	if err != nil {
		return nil, fmt.Errorf("room announcement: %w", err)
	}
	if signer != a.Host {
		return nil, fmt.Errorf("room announcement: %w: the key is %s's, the host is %s", ErrNotAllowed, signer, a.Host)
	}
	a.Moderators = append([]peer.ID(nil), a.Moderators...)
	a.Speakers = append([]peer.ID(nil), a.Speakers...)
	if len(a.Moderators) == 0 {
		a.Moderators = nil
	}
	if len(a.Speakers) == 0 {
		a.Speakers = nil
	}
	a.Followed = bytes.Clone(a.Followed)
	if len(a.Followed) == 0 {
		a.Followed = nil
	}
	a.Start, a.Expires = roundTime(a.Start), roundTime(a.Expires)
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("room announcement: %w", err)
	}
	data, err := seal(&a, key)
	if err != nil {
		return nil, fmt.Errorf("room announcement: %w", err)
	}
	if len(data) > MaxAnnouncementSize {
		return nil, fmt.Errorf("room announcement: %w (%d bytes, limit %d)", ErrTooLarge, len(data), MaxAnnouncementSize)
	}
	return &SignedAnnouncement{Announcement: a, Bytes: data}, nil
}

// ParseAnnouncement verifies and decodes an announcement: size, signature
// by its host, version and form. Freshness, replay and visibility are the
// Directory's questions.
func ParseAnnouncement(data []byte) (*SignedAnnouncement, error) {
	var a Announcement
	signer, err := open("room announcement", data, MaxAnnouncementSize, &a)
	if err != nil {
		return nil, err
	}
	if signer != a.Host {
		return nil, fmt.Errorf("room announcement: %w: signed by %s, but the host is %s", ErrBadSignature, signer, a.Host)
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("room announcement: %w: %v", ErrMalformed, err)
	}
	return &SignedAnnouncement{Announcement: a, Bytes: append([]byte(nil), data...)}, nil
}
