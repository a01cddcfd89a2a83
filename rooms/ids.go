package rooms

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
)

// RoomID names a room: 16 random bytes, written as "room-" and 26 lowercase
// base32 characters. Random rather than derived from the host, because the
// host of a room changes when a moderator takes over and the ID must not.
type RoomID string

const (
	roomIDPrefix = "room-"
	roomIDBytes  = 16
)

var roomIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRoomID draws a fresh room ID.
func NewRoomID() (RoomID, error) {
	var b [roomIDBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("room id: %w", err)
	}
	return roomIDFromBytes(b[:])
}

// ParseRoomID checks text typed or pasted by a user.
func ParseRoomID(s string) (RoomID, error) {
	raw, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), roomIDPrefix)
	if !ok {
		return "", fmt.Errorf("room id %q: %w: it does not start with %q", s, ErrMalformed, roomIDPrefix)
	}
	b, err := roomIDEncoding.DecodeString(strings.ToUpper(raw))
	if err != nil || len(b) != roomIDBytes {
		return "", fmt.Errorf("room id %q: %w: want %s and %d base32 characters", s, ErrMalformed, roomIDPrefix, roomIDEncoding.EncodedLen(roomIDBytes))
	}
	return roomIDFromBytes(b)
}

func roomIDFromBytes(b []byte) (RoomID, error) {
	if len(b) != roomIDBytes {
		return "", fmt.Errorf("%w: room id is %d bytes, want %d", ErrMalformed, len(b), roomIDBytes)
	}
	return RoomID(roomIDPrefix + strings.ToLower(roomIDEncoding.EncodeToString(b))), nil
}

// bytes is the wire form. A RoomID that did not come from this package's
// constructors encodes as nil, which every decoder refuses.
func (r RoomID) bytes() []byte {
	raw, ok := strings.CutPrefix(string(r), roomIDPrefix)
	if !ok {
		return nil
	}
	b, err := roomIDEncoding.DecodeString(strings.ToUpper(raw))
	if err != nil || len(b) != roomIDBytes {
		return nil
	}
	return b
}

// valid reports whether r is in canonical form.
func (r RoomID) valid() bool {
	b := r.bytes()
	if b == nil {
		return false
	}
	back, _ := roomIDFromBytes(b)
	return back == r
}

func (r RoomID) String() string { return string(r) }

// RoomType says who may find and join a room.
type RoomType uint8

const (
	// TypeOpen: any member of the network.
	TypeOpen RoomType = iota + 1
	// TypeSocial: people the host follows.
	TypeSocial
	// TypeClosed: holders of a room ticket signed by the host or creator.
	TypeClosed
	// TypeSupporters: holders of a supporter pass signed by the host or
	// creator. Every member sees the room listed; only supporters get in.
	TypeSupporters
)

var roomTypeNames = [...]string{TypeOpen: "open", TypeSocial: "social", TypeClosed: "closed", TypeSupporters: "supporters"}

func (t RoomType) String() string {
	if t.valid() {
		return roomTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

func (t RoomType) valid() bool { return t >= TypeOpen && t <= TypeSupporters }

// ParseRoomType reads "open", "social", "closed" or "supporters".
func ParseRoomType(s string) (RoomType, error) {
	for t := TypeOpen; t <= TypeSupporters; t++ {
		if roomTypeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("room type %q: want open, social, closed or supporters", s)
}

// Status is where a room is in its life. It only moves forward:
// scheduled -> live -> ended, or scheduled -> ended (cancelled).
type Status uint8

const (
	StatusScheduled Status = iota + 1
	StatusLive
	StatusEnded
)

var statusNames = [...]string{StatusScheduled: "scheduled", StatusLive: "live", StatusEnded: "ended"}

func (s Status) String() string {
	if s.valid() {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

func (s Status) valid() bool { return s >= StatusScheduled && s <= StatusEnded }
