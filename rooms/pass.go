package rooms

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/wire"
)

// MaxPassSize bounds an enveloped supporter pass (about 260 bytes).
const MaxPassSize = 1 << 10

// passSerialSize is the length of a pass's serial number.
const passSerialSize = 8

// Pass is a supporter pass: it lets Holder into every room Issuer hosts
// or created that is marked for supporters (TypeSupporters), until
// Expires. How the holder came to support the issuer (a payment, a
// subscription, a favour) happens outside clubnode. Serial names the pass
// for revocation.
type Pass struct {
	Holder  peer.ID
	Issuer  peer.ID
	Expires time.Time
	Serial  []byte
}

// SignedPass is a pass with the exact envelope bytes.
type SignedPass struct {
	Pass
	Bytes []byte
}

type passWire struct {
	V       int    `cbor:"0,keyasint"`
	Holder  []byte `cbor:"1,keyasint"`
	Issuer  []byte `cbor:"2,keyasint"`
	Expires int64  `cbor:"3,keyasint"`
	Serial  []byte `cbor:"4,keyasint"`
}

func (p *Pass) Domain() string { return "clubnode/supporter-pass/v1" }
func (p *Pass) Codec() []byte  { return []byte("/clubnode/supporter-pass") }

func (p *Pass) MarshalRecord() ([]byte, error) {
	return wire.Marshal(passWire{V: Version, Holder: []byte(p.Holder), Issuer: []byte(p.Issuer),
		Expires: millis(p.Expires), Serial: p.Serial})
}

func (p *Pass) UnmarshalRecord(data []byte) error {
	var w passWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	var out Pass
	var err error
	if out.Holder, out.Issuer, out.Expires, err = decodeGrant("pass", w.Holder, w.Issuer, w.Expires); err != nil {
		return err
	}
	if len(w.Serial) != passSerialSize {
		return fmt.Errorf("%w: a pass's serial is %d bytes, want %d", ErrMalformed, len(w.Serial), passSerialSize)
	}
	out.Serial = w.Serial
	*p = out
	return nil
}

// ID is the pass's serial in text, as `clubnode pass list` shows it.
func (p *Pass) ID() string { return hex.EncodeToString(p.Serial) }

// IssuePass signs a supporter pass for holder, valid until expires.
func IssuePass(key crypto.PrivKey, holder peer.ID, expires, now time.Time) (*SignedPass, error) {
	issuer, err := checkIssue("supporter pass", key, holder, expires, now)
	if err != nil {
		return nil, err
	}
	if holder == issuer {
		return nil, fmt.Errorf("supporter pass: %w: a host needs no pass to its own rooms", ErrMalformed)
	}
	serial := make([]byte, passSerialSize)
	if _, err := rand.Read(serial); err != nil {
		return nil, fmt.Errorf("supporter pass: %w", err)
	}
	p := Pass{Holder: holder, Issuer: issuer, Expires: roundTime(expires), Serial: serial}
	data, err := seal(&p, key)
	if err != nil {
		return nil, fmt.Errorf("supporter pass: %w", err)
	}
	return &SignedPass{Pass: p, Bytes: data}, nil
}

// ParsePass verifies and decodes a supporter pass.
func ParsePass(data []byte) (*SignedPass, error) {
	var p Pass
	if err := openIssued("supporter pass", data, MaxPassSize, &p, func() peer.ID { return p.Issuer }); err != nil {
		return nil, err
	}
	return &SignedPass{Pass: p, Bytes: append([]byte(nil), data...)}, nil
}

// Check says whether the pass lets holder into a supporters' room hosted
// or created by one of issuers at now.
func (p *Pass) Check(holder peer.ID, now time.Time, issuers ...peer.ID) error {
	switch {
	case p.Holder != holder:
		return fmt.Errorf("supporter pass: %w: it is %s's, not %s's", ErrNotAllowed, p.Holder, holder)
	case !slices.Contains(issuers, p.Issuer):
		return fmt.Errorf("supporter pass: %w: issued by %s, who neither hosts nor created this room", ErrNotAllowed, p.Issuer)
	case !now.Before(p.Expires):
		return fmt.Errorf("supporter pass: %w at %s", ErrExpired, p.Expires.Format(time.RFC3339))
	}
	return nil
}
