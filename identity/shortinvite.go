package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// The short form of a bearer invite. A bearer invite is redeemed online at
// the inviter's node, which holds its own membership chain: the token
// need not carry that chain. It carries what the invitee needs to find the
// inviter and what the inviter needs to recognise its own invite, signed
// with the inviter's key, in a fixed binary layout instead of a libp2p
// envelope of CBOR:
//
//	1  form byte (shortInviteForm)
//	32 the inviter's Ed25519 public key (its peer ID)
//	20 the network ID's hash
//	4  expiry, Unix seconds, big-endian
//	   uses, unsigned varint
//	8  nonce (names the invite in the inviter's ledger)
//	1  number of addresses, then each: 1 length byte, binary multiaddr
//	64 Ed25519 signature of shortInviteDomain and everything before it
//
// The token is the signature, the key and a few bytes more: about 150
// bytes, about 210 characters of text.
const (
	// ShortInvitePrefix starts the text of a short invite token.
	ShortInvitePrefix = "clubnode:"
	shortInviteForm   = 0xc1
	shortInviteDomain = "clubnode/invite-short/v1"
	shortNonceSize    = 8
	networkHashSize   = 20
	// MaxShortAddrs and maxShortAddrLen bound the inviter's addresses in
	// a short token.
	MaxShortAddrs   = 8
	maxShortAddrLen = 64
	shortFixedSize  = 1 + ed25519.PublicKeySize + networkHashSize + 4 + 1 + shortNonceSize + 1 + ed25519.SignatureSize
	// MaxShortInviteSize bounds the binary short form.
	MaxShortInviteSize = shortFixedSize + binary.MaxVarintLen64 + MaxShortAddrs*(1+maxShortAddrLen)
)

// ErrCutOff marks a token that ends early: most often a copy that missed
// its last characters.
var ErrCutOff = errors.New("the token looks cut off: copy all of it")

// ErrAltered marks a token whose signature does not match: a character
// was changed after the inviter signed it.
var ErrAltered = errors.New("the token was changed after it was signed (a character is wrong): copy it again from the invite")

var networkB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// networkHash returns the 20 bytes a network ID is made of.
func networkHash(n NetworkID) ([]byte, error) {
	rest, ok := strings.CutPrefix(string(n), networkIDPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: network id %q", ErrMalformed, n)
	}
	b, err := networkB32.DecodeString(strings.ToUpper(rest))
	if err != nil || len(b) != networkHashSize {
		return nil, fmt.Errorf("%w: network id %q", ErrMalformed, n)
	}
	return b, nil
}

func networkFromHash(b []byte) NetworkID {
	return NetworkID(networkIDPrefix + strings.ToLower(networkB32.EncodeToString(b)))
}

// NewShortInvite signs a bearer invite in the short form. Only the
// inviter's own addresses in opts.Bootstrap are kept (at most
// MaxShortAddrs, each without its /p2p part: the key names the peer).
func NewShortInvite(key crypto.PrivKey, network NetworkID, opts InviteOptions, now time.Time) (*SignedInvite, error) {
	inviter, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	if key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("invite: %w: %s", ErrUnsupportedKey, key.Type())
	}
	if opts.For != "" {
		return nil, errors.New("invite: an invite bound to a peer carries its certificate and has no short form")
	}
	if !opts.Expires.After(now) {
		return nil, fmt.Errorf("invite: expiry %s is not in the future", opts.Expires.Format(time.RFC3339))
	}
	nonce := make([]byte, shortNonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	inv := Invite{Expires: opts.Expires.UTC().Truncate(time.Second), Uses: opts.Uses, Nonce: nonce,
		inviter: inviter, network: network}
	for _, s := range opts.Bootstrap {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		addr, id := peer.SplitAddr(a)
		if addr == nil || (id != "" && id != inviter) || len(addr.Bytes()) > maxShortAddrLen {
			continue
		}
		if len(inv.Bootstrap) == MaxShortAddrs {
			break
		}
		inv.Bootstrap = append(inv.Bootstrap, addr.Encapsulate(ma.StringCast("/p2p/"+inviter.String())).String())
	}
	body, err := inv.shortBody(key.GetPublic())
	if err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	sig, err := key.Sign(append([]byte(shortInviteDomain), body...))
	if err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	return ParseShortInvite(append(body, sig...))
}

// shortBody lays out everything the signature covers.
func (i *Invite) shortBody(pub crypto.PubKey) ([]byte, error) {
	if i.Uses < 1 || i.Uses > MaxInviteUses {
		return nil, fmt.Errorf("%w: uses must be between 1 and %d, got %d", ErrMalformed, MaxInviteUses, i.Uses)
	}
	if e := i.Expires.Unix(); e < 0 || e > 1<<32-1 {
		return nil, fmt.Errorf("%w: expiry out of range", ErrMalformed)
	}
	raw, err := pub.Raw()
	if err != nil {
		return nil, err
	}
	hash, err := networkHash(i.network)
	if err != nil {
		return nil, err
	}
	b := append([]byte{shortInviteForm}, raw...)
	b = append(b, hash...)
	b = binary.BigEndian.AppendUint32(b, uint32(i.Expires.Unix()))
	b = binary.AppendUvarint(b, uint64(i.Uses))
	b = append(b, i.Nonce...)
	b = append(b, byte(len(i.Bootstrap)))
	for _, s := range i.Bootstrap {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%w: address %q", ErrMalformed, s)
		}
		addr, _ := peer.SplitAddr(a)
		ab := addr.Bytes()
		b = append(b, byte(len(ab)))
		b = append(b, ab...)
	}
	return b, nil
}

// shortReader takes fields off the front of a short token; it reports a
// token that ends early as cut off.
type shortReader struct {
	b   []byte
	err error
}

func (r *shortReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = ErrCutOff
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *shortReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = ErrCutOff
		return 0
	}
	r.b = r.b[n:]
	return v
}

// ParseShortInvite verifies and decodes the binary short form.
func ParseShortInvite(data []byte) (*SignedInvite, error) {
	if len(data) > MaxShortInviteSize {
		return nil, fmt.Errorf("invite token: %w (%d bytes, limit %d)", ErrTooLarge, len(data), MaxShortInviteSize)
	}
	if len(data) == 0 || data[0] != shortInviteForm {
		return nil, fmt.Errorf("invite token: %w: not a short invite", ErrMalformed)
	}
	if len(data) <= ed25519.SignatureSize {
		return nil, fmt.Errorf("invite token: %w: %w", ErrMalformed, ErrCutOff)
	}
	body, sig := data[:len(data)-ed25519.SignatureSize], data[len(data)-ed25519.SignatureSize:]
	inv, pub, err := decodeShortBody(body)
	if err != nil {
		return nil, fmt.Errorf("invite token: %w: %w", ErrMalformed, err)
	}
	if ok, err := pub.Verify(append([]byte(shortInviteDomain), body...), sig); err != nil || !ok {
		return nil, fmt.Errorf("invite token: %w: %w", ErrBadSignature, ErrAltered)
	}
	// One byte form per invite: a body that re-encodes differently (a
	// varint with padding, say) is refused.
	if again, err := inv.shortBody(pub); err != nil || !bytes.Equal(again, body) {
		return nil, fmt.Errorf("invite token: %w: not in canonical form", ErrMalformed)
	}
	return &SignedInvite{Invite: *inv, Bytes: append([]byte(nil), data...)}, nil
}

func decodeShortBody(body []byte) (*Invite, crypto.PubKey, error) {
	r := &shortReader{b: body[1:]}
	rawKey := r.take(ed25519.PublicKeySize)
	hash := r.take(networkHashSize)
	expires := r.take(4)
	uses := r.uvarint()
	nonce := r.take(shortNonceSize)
	count := r.take(1)
	if r.err != nil {
		return nil, nil, r.err
	}
	if int(count[0]) > MaxShortAddrs {
		return nil, nil, fmt.Errorf("%d addresses, limit %d", count[0], MaxShortAddrs)
	}
	if uses < 1 || uses > MaxInviteUses {
		return nil, nil, fmt.Errorf("uses must be between 1 and %d, got %d", MaxInviteUses, uses)
	}
	pub, err := crypto.UnmarshalEd25519PublicKey(rawKey)
	if err != nil {
		return nil, nil, fmt.Errorf("inviter's key: %v", err)
	}
	inviter, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("inviter's key: %v", err)
	}
	inv := &Invite{Expires: time.Unix(int64(binary.BigEndian.Uint32(expires)), 0).UTC(), Uses: int(uses),
		Nonce: append([]byte(nil), nonce...), inviter: inviter, network: networkFromHash(hash)}
	for range int(count[0]) {
		n := r.take(1)
		if r.err != nil {
			return nil, nil, r.err
		}
		if int(n[0]) > maxShortAddrLen {
			return nil, nil, fmt.Errorf("address of %d bytes, limit %d", n[0], maxShortAddrLen)
		}
		ab := r.take(int(n[0]))
		if r.err != nil {
			return nil, nil, r.err
		}
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil {
			return nil, nil, fmt.Errorf("address: %v", err)
		}
		if addr, id := peer.SplitAddr(a); addr == nil || id != "" {
			return nil, nil, errors.New("address carries a peer ID")
		}
		inv.Bootstrap = append(inv.Bootstrap, a.Encapsulate(ma.StringCast("/p2p/"+inviter.String())).String())
	}
	if len(r.b) != 0 {
		return nil, nil, fmt.Errorf("%d bytes too many", len(r.b))
	}
	return inv, pub, nil
}

// Short reports whether the invite is in the short form (it carries no
// chain: the inviter's node shows it).
func (i *Invite) Short() bool { return i.InviterChain == nil }
