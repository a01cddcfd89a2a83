package rooms

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
)

// RoomConfig is what `room create` asks for.
type RoomConfig struct {
	Network identity.NetworkID
	Host    peer.ID
	Title   string
	Type    RoomType
	// Start schedules the room; zero starts it at once.
	Start time.Time
	Now   time.Time
}

// MaxScheduleAhead is how far ahead a room may be scheduled: hallways
// list scheduled rooms, and one set for the year 9999 would stay there.
const MaxScheduleAhead = 366 * 24 * time.Hour

// NewState makes version 1 of a new room: the creator is its host and only
// moderator, on the stage and muted (nobody's microphone goes live without
// their own action).
func NewState(c RoomConfig) (State, error) {
	if c.Now.IsZero() {
		return State{}, fmt.Errorf("new room: no current time")
	}
	status := StatusLive
	if !c.Start.IsZero() {
		if !c.Start.After(c.Now) {
			return State{}, fmt.Errorf("new room: start %s is not in the future", c.Start.Format(time.RFC3339))
		}
		if c.Start.Sub(c.Now) > MaxScheduleAhead {
			return State{}, fmt.Errorf("new room: start %s is more than %d days ahead", c.Start.Format(time.RFC3339),
				MaxScheduleAhead/(24*time.Hour))
		}
		status = StatusScheduled
	}
	id, err := NewRoomID()
	if err != nil {
		return State{}, fmt.Errorf("new room: %w", err)
	}
	s := State{Room: id, Network: c.Network, Title: c.Title, Type: c.Type, Creator: c.Host,
		Start: roundTime(c.Start), Status: status, Host: c.Host, Version: 1,
		Moderators: []peer.ID{c.Host}, Speakers: []Speaker{{Peer: c.Host, Muted: true}},
		Updated: roundTime(c.Now)}
	if err := s.Validate(); err != nil {
		return State{}, fmt.Errorf("new room: %w", err)
	}
	return s, nil
}

// GoLive opens a scheduled room. It is not a request: only the host's own
// node decides when its room starts.
func GoLive(s State, now time.Time) (State, error) {
	switch s.Status {
	case StatusLive:
		return State{}, fmt.Errorf("room %s: %w: already live", s.Room, ErrNoChange)
	case StatusEnded:
		return State{}, fmt.Errorf("room %s: %w", s.Room, ErrRoomEnded)
	}
	next := s.Clone()
	next.Status = StatusLive
	return bump(next, s, now), nil
}

// Takeover makes newHost, a moderator, the host of the room: what a
// moderator signs when the host's node has died, and what the successor
// signs when the host hands the room over by leaving (Apply). The old host
// is removed from the room. newHost signs the result; participants accept it
// because newHost was a moderator in the state they hold (Accept). The
// version jumps by more than one, and by more the earlier newHost is in
// Successors, so that competing takeovers resolve the same way everywhere
// (takeoverStep).
func Takeover(s State, newHost peer.ID, now time.Time) (State, error) {
	if s.Status == StatusEnded {
		return State{}, fmt.Errorf("room %s: %w", s.Room, ErrRoomEnded)
	}
	if newHost == s.Host {
		return State{}, fmt.Errorf("room %s: %w: %s is already the host", s.Room, ErrNoChange, newHost)
	}
	if !s.IsModerator(newHost) {
		return State{}, fmt.Errorf("room %s: %w: only a moderator can take over, and %s is a %s",
			s.Room, ErrNotAllowed, newHost, s.RoleOf(newHost))
	}
	rank := uint64(slices.Index(Successors(s), newHost))
	jump := (MaxStage - rank) * takeoverStep
	if s.Version > math.MaxUint64-jump {
		return State{}, fmt.Errorf("room %s: %w: version %d leaves no room for a takeover", s.Room, ErrNotAllowed, s.Version)
	}
	next := s.Clone()
	// The old host stays, as the last moderator, muted: if it was only
	// out of reach (a partition, a stalled machine) it is back in the room
	// as a moderator when it hears of the takeover, and the room has one
	// host again; if it is gone for good, the new host prunes it (Prune).
	next.Moderators = append(without(next.Moderators, s.Host), s.Host)
	for i := range next.Speakers {
		if next.Speakers[i].Peer == s.Host {
			next.Speakers[i].Muted = true
		}
	}
	next.Host = newHost
	next = bump(next, s, now)
	next.Version = s.Version + jump
	return next, nil
}

// Prune takes participants who are gone out of the room: what the host's
// node does for those it has not seen for a while (a daemon killed and
// never back, an old host after a takeover). Unlike Remove it bans nobody:
// they may join again. It is not a request: only the host decides it.
func Prune(s State, gone []peer.ID, now time.Time) (State, error) {
	next := s.Clone()
	n := 0
	for _, p := range gone {
		if p == s.Host || !s.InRoom(p) {
			continue
		}
		removeFromRoom(&next, p)
		n++
	}
	if n == 0 {
		return State{}, fmt.Errorf("room %s: %w: nobody to prune", s.Room, ErrNoChange)
	}
	return bump(next, s, now), nil
}

// takeoverStep spaces the versions that competing takeovers sign. Two
// moderators may both decide that the host is dead (each waits its turn in
// Successors, but a slow network can make the turns overlap) and each sign
// a takeover of the same state. The one earlier in Successors must win
// everywhere, whichever arrives first, so a takeover does not add one to
// the version but (MaxStage - rank) * takeoverStep: the earlier successor's
// state has the higher version, everyone (the later successor included)
// accepts it after the other, and nobody accepts the other after it. The
// later successor would have to apply takeoverStep requests as host before
// the earlier one's takeover reached everyone to outrun it.
const takeoverStep = 1 << 16

// Successors lists, in order, the moderators who would take the room over
// if the host died; the first is Successor. A moderator waits for those
// before it (each given a few seconds) before taking over itself, so a
// successor that died with the host does not end the room.
//
// The order is the order in which people were made moderator, not, say,
// the lowest peer ID, because:
//   - peer IDs can be ground: anyone can make keys until one sorts first
//     and so jump the queue in every room; appointment order cannot be
//     gamed by the moderator, only chosen by the hosts who appointed;
//   - the host chooses its heir by whom it makes moderator first, which is
//     what a person running a room expects;
//   - the longest-serving moderator has seen the most of the room.
//
// Every participant holding the same state computes the same list.
func Successors(s State) []peer.ID {
	out := make([]peer.ID, 0, len(s.Moderators))
	for _, m := range s.Moderators {
		if m != s.Host {
			out = append(out, m)
		}
	}
	return out
}

// Successor is the moderator that takes over when the host dies or leaves.
// With none left (false), the room ends.
func Successor(s State) (peer.ID, bool) {
	if l := Successors(s); len(l) > 0 {
		return l[0], true
	}
	return "", false
}

// bump makes next the version after prev, with an update time that never
// goes backwards even if the signer's clock is behind the last host's.
func bump(next, prev State, now time.Time) State {
	next.Version = prev.Version + 1
	if len(next.Speakers) == 0 {
		next.Speakers = nil
	}
	next.Updated = roundTime(now)
	if next.Updated.Before(prev.Updated) {
		next.Updated = prev.Updated
	}
	return next
}

// removeFromRoom takes p out of every list but the ban list.
func removeFromRoom(s *State, p peer.ID) {
	s.Moderators = without(s.Moderators, p)
	s.Speakers = slices.DeleteFunc(s.Speakers, func(sp Speaker) bool { return sp.Peer == p })
	s.Audience = without(s.Audience, p)
	s.Hands = without(s.Hands, p)
	s.Invited = without(s.Invited, p)
}

// without removes p from ids (in place: callers work on a clone) and keeps
// an empty list nil, as the decoder produces it.
func without(ids []peer.ID, p peer.ID) []peer.ID {
	ids = slices.DeleteFunc(ids, func(q peer.ID) bool { return q == p })
	if len(ids) == 0 {
		return nil
	}
	return ids
}
