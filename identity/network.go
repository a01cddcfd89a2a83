package identity

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/safetext"
)

// NetworkID names a network. It is derived from the founder's public key and
// the network's name, so nobody else can found a network with the same ID.
type NetworkID string

const networkIDPrefix = "net-"

// networkIDDomain separates network-ID hashing from any other use of SHA-256.
const networkIDDomain = "clubnode/network-id/v1"

// DeriveNetworkID computes the ID of the network called name founded by the
// holder of founderKey.
func DeriveNetworkID(founderKey crypto.PubKey, name string) (NetworkID, error) {
	raw, err := founderKey.Raw()
	if err != nil {
		return "", fmt.Errorf("network id: founder key: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(networkIDDomain))
	h.Write([]byte{0})
	h.Write(raw)
	h.Write([]byte{0})
	h.Write([]byte(name))
	sum := h.Sum(nil)
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:20])
	return NetworkID(networkIDPrefix + strings.ToLower(enc)), nil
}

// Charter is the founder's self-signed statement that founds a network. It is
// the root of every membership chain.
type Charter struct {
	Name    string
	Founder peer.ID
	Created time.Time
}

type charterWire struct {
	V       int    `cbor:"0,keyasint"`
	Name    string `cbor:"1,keyasint"`
	Founder []byte `cbor:"2,keyasint"`
	Created int64  `cbor:"3,keyasint"`
}

func (c *Charter) Domain() string { return "clubnode/charter/v1" }
func (c *Charter) Codec() []byte  { return []byte("/clubnode/charter") }
func (c *Charter) MarshalRecord() ([]byte, error) {
	return marshal(charterWire{V: Version, Name: c.Name, Founder: []byte(c.Founder), Created: c.Created.Unix()})
}
func (c *Charter) UnmarshalRecord(data []byte) error {
	var w charterWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	founder, err := peerIDFromBytes("founder", w.Founder)
	if err != nil {
		return err
	}
	*c = Charter{Name: w.Name, Founder: founder, Created: time.Unix(w.Created, 0).UTC()}
	return nil
}

// SignedCharter is a charter with the exact envelope bytes that carry it.
type SignedCharter struct {
	Charter
	Network NetworkID
	Bytes   []byte
}

// ValidateNetworkName says what is wrong with a proposed network name.
func ValidateNetworkName(name string) error {
	return safetext.Check("network name", name, safetext.Line, MaxNameLength, true)
}

// FoundNetwork creates and signs the charter of a new network.
func FoundNetwork(key crypto.PrivKey, name string, now time.Time) (*SignedCharter, error) {
	if err := ValidateNetworkName(name); err != nil {
		return nil, err
	}
	founder, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("found network: %w", err)
	}
	c := Charter{Name: name, Founder: founder, Created: now.UTC().Truncate(time.Second)}
	data, err := seal(&c, key)
	if err != nil {
		return nil, fmt.Errorf("found network: %w", err)
	}
	return ParseCharter(data)
}

// ParseCharter verifies and decodes a charter envelope.
func ParseCharter(data []byte) (*SignedCharter, error) {
	var c Charter
	signer, err := open("network charter", data, MaxCharterSize, &c)
	if err != nil {
		return nil, err
	}
	if signer != c.Founder {
		return nil, fmt.Errorf("network charter: %w: signed by %s, not by its founder %s", ErrBadSignature, signer, c.Founder)
	}
	if err := ValidateNetworkName(c.Name); err != nil {
		return nil, fmt.Errorf("network charter: %w: %v", ErrMalformed, err)
	}
	pub, err := c.Founder.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("network charter: founder key: %w", err)
	}
	id, err := DeriveNetworkID(pub, c.Name)
	if err != nil {
		return nil, err
	}
	return &SignedCharter{Charter: c, Network: id, Bytes: append([]byte(nil), data...)}, nil
}
