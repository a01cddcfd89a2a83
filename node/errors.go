package node

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/p2p"
	"github.com/clubnode/clubnode/rooms"
	"github.com/clubnode/clubnode/rooms/roomnet"
)

// The node's operations return plain errors: the sentinels of the packages
// that decided (identity, p2p, rooms, rpc), the few below, and invalid for
// "the caller's argument is bad". statusOf is the one place that turns
// them into HTTP statuses.
var (
	// ErrInvalid marks an error caused by the caller's input (see invalid).
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound: what the caller named is not known to this node (a
	// member, a media session, an API action).
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: a part of the node the operation needs is not
	// running (audio).
	ErrUnavailable = errors.New("unavailable")
	// ErrStorage: the datastore failed to read or write.
	ErrStorage = errors.New("storage failure")
	// ErrPrecondition: an If-Match that names another version of the
	// resource (a WHIP/WHEP session's ICE session).
	ErrPrecondition = errors.New("precondition failed")
)

// argError is an error the caller caused; it reads as its cause alone.
type argError struct{ err error }

func (e *argError) Error() string   { return e.err.Error() }
func (e *argError) Unwrap() []error { return []error{ErrInvalid, e.err} }

// invalid says the caller's argument is bad: fmt.Errorf's format, args
// and %w, marked with ErrInvalid.
func invalid(format string, args ...any) error {
	return &argError{err: fmt.Errorf(format, args...)}
}

// statusClasses maps sentinels to HTTP statuses, checked in order: the
// first sentinel an error wraps decides. A refusal by a peer carries its
// reason's sentinel (rpc), so a host's "banned" is 403 here too.
var statusClasses = []struct {
	status int
	errs   []error
}{
	{http.StatusBadRequest, []error{ErrInvalid, identity.ErrMalformed, identity.ErrTooLarge, identity.ErrBadSignature,
		identity.ErrBadVersion, identity.ErrExpired, identity.ErrWrongNetwork, identity.ErrBrokenChain,
		identity.ErrUnsupportedKey, identity.ErrNotYetValid}},
	{http.StatusForbidden, []error{rooms.ErrNotAllowed, rooms.ErrBanned, rooms.ErrNotAdmitted,
		identity.ErrNotAuthorized, identity.ErrRevoked}},
	{http.StatusNotFound, []error{ErrNotFound, rooms.ErrUnknownRoom, rooms.ErrNotInRoom, roomnet.ErrNoMedia}},
	{http.StatusConflict, []error{rooms.ErrNoChange, rooms.ErrNotLive, rooms.ErrRoomEnded, rooms.ErrRoomFull,
		rooms.ErrStaleVersion, rooms.ErrReplay, rooms.ErrNoParent, p2p.ErrNotMember, p2p.ErrAlreadyMember,
		p2p.ErrInviteUsedUp}},
	{http.StatusTooManyRequests, []error{rooms.ErrRateLimited}},
	{http.StatusPreconditionFailed, []error{ErrPrecondition}},
	{http.StatusBadGateway, []error{rpc.ErrUnreachable, rpc.ErrNoReply}},
	// A refusal whose reason this node does not know.
	{http.StatusForbidden, []error{rpc.ErrRefused}},
	{http.StatusServiceUnavailable, []error{ErrUnavailable}},
	{http.StatusInternalServerError, []error{ErrStorage}},
}

// statusOf is the HTTP status an operation's error deserves.
func statusOf(err error) int {
	for _, c := range statusClasses {
		for _, target := range c.errs {
			if errors.Is(err, target) {
				return c.status
			}
		}
	}
	return http.StatusInternalServerError
}
