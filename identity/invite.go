package identity

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// InvitePrefix starts every invite token's text, so a pasted token is
// recognised (and a wrong paste is named) before anything is decoded.
const InvitePrefix = "clubnode-invite:"

// Invite limits.
const (
	MaxInviteUses      = 10000
	MaxBootstrapAddrs  = 16
	maxBootstrapLength = 256
	nonceSize          = 16
	// MaxInviteTextLength bounds the text form: the prefix and the base64 of
	// the largest envelope, and room for a link around it.
	MaxInviteTextLength = len(InvitePrefix) + (MaxInviteSize+2)/3*4 + maxLinkAround
	maxLinkAround       = 1 << 10
)

// Invite lets someone join a network. A bearer invite (For is empty) is
// redeemed online at the inviter's node, which counts its Uses. A bound
// invite (For is a peer ID) carries the certificate itself and needs nobody
// online.
type Invite struct {
	InviterChain *Chain
	Expires      time.Time
	Uses         int
	Nonce        []byte
	Bootstrap    []string
	For          peer.ID
	Cert         *SignedCert
	// inviter and network are set for the short form, which carries no
	// chain; the long form takes them from InviterChain.
	inviter peer.ID
	network NetworkID
}

type inviteWire struct {
	V            int      `cbor:"0,keyasint"`
	InviterChain []byte   `cbor:"1,keyasint"`
	Expires      int64    `cbor:"2,keyasint"`
	Uses         int      `cbor:"3,keyasint"`
	Nonce        []byte   `cbor:"4,keyasint"`
	Bootstrap    []string `cbor:"5,keyasint"`
	For          []byte   `cbor:"6,keyasint,omitempty"`
	Cert         []byte   `cbor:"7,keyasint,omitempty"`
}

func (i *Invite) Domain() string { return "clubnode/invite/v1" }
func (i *Invite) Codec() []byte  { return []byte("/clubnode/invite") }
func (i *Invite) MarshalRecord() ([]byte, error) {
	w := inviteWire{V: Version, InviterChain: i.InviterChain.Marshal(), Expires: i.Expires.Unix(),
		Uses: i.Uses, Nonce: i.Nonce, Bootstrap: i.Bootstrap}
	if i.For != "" {
		w.For = []byte(i.For)
		w.Cert = i.Cert.Bytes
	}
	return marshal(w)
}
func (i *Invite) UnmarshalRecord(data []byte) error {
	var w inviteWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	chain, err := ParseChain(w.InviterChain)
	if err != nil {
		return fmt.Errorf("inviter's chain: %w", err)
	}
	inv := Invite{InviterChain: chain, Expires: time.Unix(w.Expires, 0).UTC(), Uses: w.Uses,
		Nonce: w.Nonce, Bootstrap: w.Bootstrap}
	if len(w.For) > 0 {
		if inv.For, err = peerIDFromBytes("for", w.For); err != nil {
			return err
		}
		if inv.Cert, err = ParseCert(w.Cert); err != nil {
			return fmt.Errorf("bound certificate: %w", err)
		}
	} else if len(w.Cert) > 0 {
		return fmt.Errorf("%w: a bearer invite carries a certificate", ErrMalformed)
	}
	*i = inv
	return nil
}

// Network is the network the invite is for.
func (i *Invite) Network() NetworkID {
	if i.InviterChain == nil {
		return i.network
	}
	return i.InviterChain.Network()
}

// Inviter is the member who signed the invite.
func (i *Invite) Inviter() peer.ID {
	if i.InviterChain == nil {
		return i.inviter
	}
	return i.InviterChain.Member()
}

// Bearer reports whether the invite is redeemed online by whoever holds it.
func (i *Invite) Bearer() bool { return i.For == "" }

func (i *Invite) validate() error {
	if len(i.Nonce) != nonceSize {
		return fmt.Errorf("%w: nonce is %d bytes, want %d", ErrMalformed, len(i.Nonce), nonceSize)
	}
	if i.Uses < 1 || i.Uses > MaxInviteUses {
		return fmt.Errorf("%w: uses must be between 1 and %d, got %d", ErrMalformed, MaxInviteUses, i.Uses)
	}
	if !i.Bearer() && i.Uses != 1 {
		return fmt.Errorf("%w: an invite bound to a peer is used once, got uses %d", ErrMalformed, i.Uses)
	}
	if len(i.Bootstrap) > MaxBootstrapAddrs {
		return fmt.Errorf("%w: %d bootstrap addresses, limit %d", ErrMalformed, len(i.Bootstrap), MaxBootstrapAddrs)
	}
	for _, a := range i.Bootstrap {
		if len(a) > maxBootstrapLength {
			return fmt.Errorf("%w: bootstrap address of %d bytes", ErrMalformed, len(a))
		}
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("%w: bootstrap address %q: %v", ErrMalformed, a, err)
		}
	}
	if !i.Bearer() {
		c := i.Cert
		if c.Member != i.For || c.Inviter != i.Inviter() || c.Network != i.Network() {
			return fmt.Errorf("%w: the bound certificate does not make %s a member invited by %s", ErrBrokenChain, i.For, i.Inviter())
		}
	}
	return nil
}

// SignedInvite is an invite with the exact envelope bytes.
type SignedInvite struct {
	Invite
	Bytes []byte
}

// InviteOptions are what the inviter chooses.
type InviteOptions struct {
	Uses      int
	Expires   time.Time
	For       peer.ID // empty for a bearer invite
	Bootstrap []string
}

// NewInvite signs an invite into the network of chain; key must be the key
// of chain's member.
func NewInvite(key crypto.PrivKey, chain *Chain, opts InviteOptions, now time.Time) (*SignedInvite, error) {
	inviter, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	if chain.Member() != inviter {
		return nil, fmt.Errorf("invite: %w: the chain belongs to %s, not to the signer", ErrNotAuthorized, chain.Member())
	}
	if !opts.Expires.After(now) {
		return nil, fmt.Errorf("invite: expiry %s is not in the future", opts.Expires.Format(time.RFC3339))
	}
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	inv := Invite{InviterChain: chain, Expires: opts.Expires.UTC().Truncate(time.Second), Uses: opts.Uses,
		Nonce: nonce, Bootstrap: opts.Bootstrap, For: opts.For}
	if opts.For != "" {
		if inv.Cert, err = IssueCert(key, chain, opts.For, now); err != nil {
			return nil, fmt.Errorf("invite: %w", err)
		}
	}
	if err := inv.validate(); err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	data, err := seal(&inv, key)
	if err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	return ParseInvite(data)
}

// ParseInvite verifies and decodes an invite envelope.
func ParseInvite(data []byte) (*SignedInvite, error) {
	var inv Invite
	signer, err := open("invite token", data, MaxInviteSize, &inv)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			return nil, fmt.Errorf("%w (truncated or corrupted?)", err)
		}
		return nil, err
	}
	if signer != inv.Inviter() {
		return nil, fmt.Errorf("invite token: %w: signed by %s, but the inviter's chain is %s's", ErrBadSignature, signer, inv.Inviter())
	}
	if err := inv.validate(); err != nil {
		return nil, fmt.Errorf("invite token: %w", err)
	}
	return &SignedInvite{Invite: inv, Bytes: append([]byte(nil), data...)}, nil
}

// Text is the one-line form a person pastes into a chat.
func (i *SignedInvite) Text() string {
	if i.Short() {
		return ShortInvitePrefix + base64.RawURLEncoding.EncodeToString(i.Bytes)
	}
	return InvitePrefix + base64.RawURLEncoding.EncodeToString(i.Bytes)
}

// ParseInviteBytes decodes either form's bytes: the short form starts
// with its form byte, which no envelope does.
func ParseInviteBytes(data []byte) (*SignedInvite, error) {
	if len(data) > 0 && data[0] == shortInviteForm {
		return ParseShortInvite(data)
	}
	return ParseInvite(data)
}

// tokenError is what a person reads about a token they pasted: no decoder
// internals, and what to do. errors.Is still finds the sentinels.
type tokenError struct {
	msg   string
	cause []error
}

func (e *tokenError) Error() string   { return "invite token: " + e.msg }
func (e *tokenError) Unwrap() []error { return e.cause }

// FindInviteText finds the token in pasted text: the token itself, or an
// invite link (…#/join/TOKEN, possibly percent-encoded) from a chat or a
// QR code, at any host and port.
func FindInviteText(text string) string {
	text = strings.TrimSpace(text)
	if strings.Contains(text, "%3A") || strings.Contains(text, "%3a") {
		if u, err := url.PathUnescape(text); err == nil {
			text = u
		}
	}
	for _, prefix := range []string{InvitePrefix, ShortInvitePrefix} {
		i := strings.Index(text, prefix)
		if i < 0 {
			continue
		}
		rest := text[i+len(prefix):]
		end := strings.IndexFunc(rest, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		})
		if end >= 0 {
			rest = rest[:end]
		}
		return prefix + rest
	}
	return text
}

// ParseInviteText decodes a pasted token in either form, or a link that
// carries one. Its errors say what a person can do about them.
func ParseInviteText(text string) (*SignedInvite, error) {
	text = strings.TrimSpace(text)
	if len(text) > MaxInviteTextLength {
		return nil, &tokenError{fmt.Sprintf("it is too long (%d characters, limit %d)", len(text), MaxInviteTextLength), []error{ErrTooLarge}}
	}
	text = FindInviteText(text)
	rest, ok := strings.CutPrefix(text, ShortInvitePrefix)
	if !ok {
		if rest, ok = strings.CutPrefix(text, InvitePrefix); !ok {
			return nil, &tokenError{fmt.Sprintf("this is not a clubnode invite: a token starts with %q", ShortInvitePrefix), []error{ErrMalformed}}
		}
	}
	data, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		// Only the token's own characters were kept: what fails to
		// decode is a token of the wrong length, most often cut.
		return nil, &tokenError{ErrCutOff.Error(), []error{ErrMalformed, ErrCutOff}}
	}
	inv, err := ParseInviteBytes(data)
	switch {
	case err == nil:
		return inv, nil
	case errors.Is(err, ErrCutOff):
		return nil, &tokenError{ErrCutOff.Error(), []error{ErrMalformed, ErrCutOff}}
	case errors.Is(err, ErrBadSignature):
		return nil, &tokenError{ErrAltered.Error(), []error{ErrBadSignature, ErrAltered}}
	case errors.Is(err, ErrMalformed):
		return nil, &tokenError{"it looks cut off or damaged: copy all of it", []error{ErrMalformed, ErrCutOff}}
	}
	return nil, err
}

// ID names the invite in the inviter's ledger of uses.
func (i *Invite) ID() string { return base64.RawURLEncoding.EncodeToString(i.Nonce) }

// CheckTime refuses an invite that has expired at now.
func (i *Invite) CheckTime(now time.Time) error {
	if now.After(i.Expires.Add(ClockSkew)) {
		return fmt.Errorf("invite token: %w at %s", ErrExpired, i.Expires.Format(time.RFC3339))
	}
	return nil
}

// BoundChain is the membership chain a bound invite gives its invitee.
func (i *Invite) BoundChain() (*Chain, error) {
	if i.Bearer() {
		return nil, fmt.Errorf("invite token: a bearer invite must be redeemed at the inviter's node")
	}
	return i.InviterChain.Extend(i.Cert)
}
