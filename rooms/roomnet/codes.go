package roomnet

import (
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/p2p"
	"github.com/clubnode/clubnode/rooms"
)

// Codes is the refusal vocabulary of the rooms protocols: a host's "banned"
// arrives as rooms.ErrBanned, and so on for every rooms sentinel.
var Codes = rpc.Codes{
	{Name: "banned", Err: rooms.ErrBanned},
	{Name: "not-admitted", Err: rooms.ErrNotAdmitted},
	{Name: "not-allowed", Err: rooms.ErrNotAllowed},
	{Name: "unknown-room", Err: rooms.ErrUnknownRoom},
	{Name: "not-in-room", Err: rooms.ErrNotInRoom},
	{Name: "room-ended", Err: rooms.ErrRoomEnded},
	{Name: "not-live", Err: rooms.ErrNotLive},
	{Name: "no-change", Err: rooms.ErrNoChange},
	{Name: "room-full", Err: rooms.ErrRoomFull},
	{Name: "replay", Err: rooms.ErrReplay},
	{Name: "stale-version", Err: rooms.ErrStaleVersion},
	{Name: "rate-limited", Err: rooms.ErrRateLimited},
	{Name: "no-parent", Err: rooms.ErrNoParent},
}.Join(p2p.Codes)

// ErrRefused marks a refusal by the peer asked (a host, a parent, a
// holder's node); the rooms sentinel it carries says why.
var ErrRefused = rpc.ErrRefused
