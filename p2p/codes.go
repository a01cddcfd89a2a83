package p2p

import (
	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/rpc"
)

// Codes is the refusal vocabulary every clubnode protocol shares: the trust
// plane's sentinel errors and p2p's own, so that a peer's "revoked" or
// "expired" is recognised with errors.Is on this side of the stream.
// Protocols built on p2p join their own codes in front of these.
var Codes = rpc.Codes{
	{Name: "not-member", Err: ErrNotMember},
	{Name: "already-member", Err: ErrAlreadyMember},
	{Name: "invite-used-up", Err: ErrInviteUsedUp},
	{Name: "revoked", Err: identity.ErrRevoked},
	{Name: "not-authorized", Err: identity.ErrNotAuthorized},
	{Name: "wrong-network", Err: identity.ErrWrongNetwork},
	{Name: "expired", Err: identity.ErrExpired},
	{Name: "not-yet-valid", Err: identity.ErrNotYetValid},
	{Name: "bad-signature", Err: identity.ErrBadSignature},
	{Name: "broken-chain", Err: identity.ErrBrokenChain},
	{Name: "bad-version", Err: identity.ErrBadVersion},
	{Name: "unsupported-key", Err: identity.ErrUnsupportedKey},
	{Name: "too-large", Err: identity.ErrTooLarge},
	{Name: "malformed", Err: identity.ErrMalformed},
}
