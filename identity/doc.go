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
package identity
