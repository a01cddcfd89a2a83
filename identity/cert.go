package identity

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ClockSkew is how far in the future a timestamp may lie, and how long past
// an expiry an object is still accepted, to allow for unsynchronised clocks.
const ClockSkew = 2 * time.Minute

// Cert is a membership certificate: "Member was invited by Inviter into
// Network", signed by Inviter.
type Cert struct {
	Network NetworkID
	Member  peer.ID
	Inviter peer.ID
	Issued  time.Time
	Serial  []byte
}

type certWire struct {
	V       int    `cbor:"0,keyasint"`
	Network string `cbor:"1,keyasint"`
	Member  []byte `cbor:"2,keyasint"`
	Inviter []byte `cbor:"3,keyasint"`
	Issued  int64  `cbor:"4,keyasint"`
	Serial  []byte `cbor:"5,keyasint"`
}

func (c *Cert) Domain() string { return "clubnode/membership-cert/v1" }
func (c *Cert) Codec() []byte  { return []byte("/clubnode/membership-cert") }
func (c *Cert) MarshalRecord() ([]byte, error) {
	return marshal(certWire{V: Version, Network: string(c.Network), Member: []byte(c.Member),
		Inviter: []byte(c.Inviter), Issued: c.Issued.Unix(), Serial: c.Serial})
}
func (c *Cert) UnmarshalRecord(data []byte) error {
	var w certWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	member, err := peerIDFromBytes("member", w.Member)
	if err != nil {
		return err
	}
	inviter, err := peerIDFromBytes("inviter", w.Inviter)
	if err != nil {
		return err
	}
	if len(w.Serial) > 32 {
		return fmt.Errorf("%w: serial is %d bytes", ErrMalformed, len(w.Serial))
	}
	*c = Cert{Network: NetworkID(w.Network), Member: member, Inviter: inviter,
		Issued: time.Unix(w.Issued, 0).UTC(), Serial: w.Serial}
	return nil
}

// SignedCert is a certificate with the exact envelope bytes that carry it.
type SignedCert struct {
	Cert
	Bytes []byte
}

// ParseCert verifies a certificate's signature (it must be signed by its
// inviter) and decodes it. Whether the inviter was a member is the chain's
// question, not the certificate's.
func ParseCert(data []byte) (*SignedCert, error) {
	var c Cert
	signer, err := open("membership certificate", data, MaxCertSize, &c)
	if err != nil {
		return nil, err
	}
	if signer != c.Inviter {
		return nil, fmt.Errorf("membership certificate: %w: signed by %s, not by the inviter %s", ErrBadSignature, signer, c.Inviter)
	}
	if c.Member == c.Inviter {
		return nil, fmt.Errorf("membership certificate: %w: %s invites itself", ErrBrokenChain, c.Member)
	}
	return &SignedCert{Cert: c, Bytes: append([]byte(nil), data...)}, nil
}

// IssueCert signs a certificate that makes member a member of the network of
// inviterChain. key must be the key of the chain's member.
func IssueCert(key crypto.PrivKey, inviterChain *Chain, member peer.ID, now time.Time) (*SignedCert, error) {
	inviter, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	if inviterChain.Member() != inviter {
		return nil, fmt.Errorf("issue certificate: %w: the chain belongs to %s, not to the signer %s", ErrNotAuthorized, inviterChain.Member(), inviter)
	}
	if err := member.Validate(); err != nil {
		return nil, fmt.Errorf("issue certificate: member: %w", err)
	}
	for _, m := range inviterChain.Members() {
		if m == member {
			return nil, fmt.Errorf("issue certificate: %w: %s is already in the inviter's chain", ErrBrokenChain, member)
		}
	}
	serial := make([]byte, 8)
	if _, err := rand.Read(serial); err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	c := Cert{Network: inviterChain.Network(), Member: member, Inviter: inviter,
		Issued: now.UTC().Truncate(time.Second), Serial: serial}
	data, err := seal(&c, key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	return ParseCert(data)
}
