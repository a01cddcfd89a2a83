// Package identity is clubnode's trust plane: node keys, networks, membership
// certificates and their chains, invite tokens, revocations and profiles.
//
// It is pure code with no I/O. Every signed object travels as a libp2p signed
// envelope (core/record): the signature covers a domain-separation string, a
// payload type and the exact payload bytes, so an object signed for one
// purpose can never be replayed as another. Payloads are deterministic CBOR
// decoded strictly (unknown fields, duplicate keys, indefinite lengths and
// tags are rejected), carry a version number, and every decoder has a size
// limit.
//
// # Who is a member
//
// A chain proves membership: the network's charter (signed by the founder),
// then one certificate per invitation, each signed by the member before it.
// No certificate may be dated before its inviter's own: a member cannot have
// invited anyone before it was invited itself.
//
// A revocation ends a member's membership. The founder or anyone above the
// member in its chain may sign one, and it counts only if its signer was
// itself in good standing when it signed. With invitees, every chain through
// the revoked member is invalid. Without invitees, the revocation lists the
// revoked member's invitees that stay (those its signer knew of when it
// signed), and every other certificate the revoked member signed is void,
// whatever date it carries: the dates in a certificate are the signer's
// word, and a revoked member's word is what the revocation withdraws. Only
// what the revoker signed can keep an invitee, so every node decides the
// same way whatever order it learned things in. An invitee the revoker did
// not know of must be invited again by someone else. (Revocations signed
// before this rule, which list nobody, keep the invitees certified before
// the revocation's date.)
package identity
