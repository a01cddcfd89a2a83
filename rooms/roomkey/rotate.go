package roomkey

import (
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/rooms"
)

// Encrypted reports whether a room's audio is encrypted end to end: closed
// rooms and supporters' rooms, while live. Open and social rooms are not: their audience is
// anyone in the network (or anyone the host follows), so a key handed to
// all of them would keep nobody out.
func Encrypted(s *rooms.State) bool {
	return s != nil && (s.Type == rooms.TypeClosed || s.Type == rooms.TypeSupporters) && s.Status == rooms.StatusLive
}

// Rotation is what changed between two room states, as far as keys go.
type Rotation struct {
	// Rotate: the host must start a new epoch and deliver it to every
	// participant of the new state.
	Rotate bool
	// Start: the room began needing keys (it went live, or became the
	// host's to key): the first epoch of this host.
	Start bool
	// HostChanged: the room has a new host, who starts its own epoch; the
	// old host's secret may have left with it.
	HostChanged bool
	// Left are the participants of the old state who are not in the new
	// one (left, removed, banned): they hold the current secret, so it
	// must be replaced for them not to hear what follows.
	Left []peer.ID
}

// Rotate says whether going from state old (nil if none) to state next
// needs a new epoch. Joiners do not: the host delivers them the current
// epoch, and they hear only what is sent after they are admitted to the
// relay tree. Ending the room needs none either.
func Rotate(old, next *rooms.State) (Rotation, error) {
	if next == nil {
		return Rotation{}, fmt.Errorf("room key rotation: no state")
	}
	if old != nil && old.Room != next.Room {
		return Rotation{}, fmt.Errorf("room key rotation: %w: %s then %s", rooms.ErrUnknownRoom, old.Room, next.Room)
	}
	if !Encrypted(next) {
		return Rotation{}, nil
	}
	if !Encrypted(old) {
		return Rotation{Rotate: true, Start: true}, nil
	}
	var r Rotation
	if old.Host != next.Host {
		r.Rotate, r.HostChanged = true, true
	}
	for _, p := range old.Participants() {
		if !next.InRoom(p) {
			r.Left = append(r.Left, p)
		}
	}
	if len(r.Left) > 0 {
		r.Rotate = true
	}
	return r, nil
}

// Recipients are who the host delivers an epoch to: every participant but
// itself.
func Recipients(s *rooms.State) []peer.ID {
	return slices.DeleteFunc(s.Participants(), func(p peer.ID) bool { return p == s.Host })
}
