package rooms

import (
	"fmt"
	"slices"
)

// Accept decides whether a participant holding prev may replace it with
// next. Both come from ParseState (or SignState), so each is well formed and
// signed by the host it names. Accept enforces what a participant can check
// without the request log:
//
//   - same room, network, title, type, creator and schedule: no request
//     changes them;
//   - a higher version: an older or equal one is a rollback or a replay
//     (ErrStaleVersion), and an equal version with other content means the
//     host signed two different histories;
//   - nothing after the end, and the status never moves backwards;
//   - the signer is prev's host, or a new host that was a moderator in prev
//     (a handover or takeover): anyone else naming itself host is refused;
//   - nobody is unbanned: there is no request that lifts a ban.
//
// A participant may have missed versions in between (it checks only the
// state it holds against the one it receives), so Accept checks these
// invariants rather than the exact diff one request would make.
//
// With prev nil (a joiner's first state) Accept only requires next; the
// caller must have asked the room's host for it.
func Accept(prev *SignedState, next *SignedState) error {
	if next == nil {
		return fmt.Errorf("room state: %w: none", ErrMalformed)
	}
	if prev == nil {
		return nil
	}
	p, n := &prev.State, &next.State
	if n.Room != p.Room {
		return fmt.Errorf("room state: %w: state of %s where %s was expected", ErrUnknownRoom, n.Room, p.Room)
	}
	if n.Version <= p.Version {
		if n.Version == p.Version && string(next.Bytes) != string(prev.Bytes) {
			return fmt.Errorf("room %s: %w: version %d signed twice with different content", p.Room, ErrStaleVersion, n.Version)
		}
		return fmt.Errorf("room %s: %w: version %d is not newer than %d", p.Room, ErrStaleVersion, n.Version, p.Version)
	}
	if p.Status == StatusEnded {
		return fmt.Errorf("room %s: %w at version %d", p.Room, ErrRoomEnded, p.Version)
	}
	if n.Status < p.Status {
		return fmt.Errorf("room %s: %w: status went back from %s to %s", p.Room, ErrNotAllowed, p.Status, n.Status)
	}
	if n.Network != p.Network || n.Title != p.Title || n.Type != p.Type || n.Creator != p.Creator || !n.Start.Equal(p.Start) {
		return fmt.Errorf("room %s: %w: version %d changes the room's network, title, type, creator or start", p.Room, ErrNotAllowed, n.Version)
	}
	if n.Host != p.Host && !p.IsModerator(n.Host) {
		return fmt.Errorf("room %s: %w: %s names itself host, but was a %s, not a moderator, in version %d",
			p.Room, ErrNotAllowed, n.Host, p.RoleOf(n.Host), p.Version)
	}
	for _, b := range p.Banned {
		if !slices.Contains(n.Banned, b) {
			return fmt.Errorf("room %s: %w: version %d lifts the ban on %s", p.Room, ErrNotAllowed, n.Version, b)
		}
	}
	return nil
}
