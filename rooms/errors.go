package rooms

import (
	"errors"

	"github.com/clubnode/clubnode/identity"
)

// Sentinel errors that callers test with errors.Is; the wrapped message says
// which room, peer or field was wrong, in words a user can act on.
//
// The decoding errors are identity's own, so a gossip validator or stream
// handler classifies a bad room object the same way as a bad certificate.
var (
	ErrTooLarge       = identity.ErrTooLarge
	ErrMalformed      = identity.ErrMalformed
	ErrBadSignature   = identity.ErrBadSignature
	ErrBadVersion     = identity.ErrBadVersion
	ErrExpired        = identity.ErrExpired
	ErrWrongNetwork   = identity.ErrWrongNetwork
	ErrUnsupportedKey = identity.ErrUnsupportedKey
)

// Errors about what a request or a state asks for.
var (
	// ErrNotAllowed: the permission table, or the rank of the target,
	// refuses the action; or a state change no host could have made.
	ErrNotAllowed = errors.New("not allowed")
	// ErrStaleVersion: a state not newer than the one held (rollback or
	// replay), or an announcement whose sequence number is not newer.
	ErrStaleVersion = errors.New("stale version")
	// ErrUnknownRoom: the object is about another room.
	ErrUnknownRoom = errors.New("unknown room")
	// ErrNotInRoom: the peer the request is about is not in the room, or
	// not where the action needs it (on stage, in the audience).
	ErrNotInRoom = errors.New("not in the room")
	// ErrBanned: the joiner was removed from this room earlier.
	ErrBanned = errors.New("banned from this room")
	// ErrNotAdmitted: the joiner does not pass the room's admission (not a
	// member, not followed by the host, no ticket, blocked by a moderator).
	ErrNotAdmitted = errors.New("not admitted")
	// ErrRoomEnded: the room is over; nothing more happens in it.
	ErrRoomEnded = errors.New("room has ended")
	// ErrNotLive: a scheduled room that has not started yet.
	ErrNotLive = errors.New("room has not started")
	// ErrNoChange: the request would change nothing (hand already raised,
	// already muted); the host publishes no new version for it.
	ErrNoChange = errors.New("nothing to change")
	// ErrRoomFull: a list of the state is at its limit.
	ErrRoomFull = errors.New("room is full")
	// ErrReplay: a request already seen, or outside the replay window.
	ErrReplay = errors.New("replayed request")
	// ErrRateLimited: an author announces faster than the directory allows.
	ErrRateLimited = errors.New("rate limited")
	// ErrDirectoryFull: the directory holds as many rooms as it may.
	ErrDirectoryFull = errors.New("directory full")
)
