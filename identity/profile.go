package identity

import (
	"fmt"
	"net/url"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/safetext"
)

// Profile is what a member says about itself. Updated orders versions: a
// profile older than the one held is a replay and is ignored.
type Profile struct {
	Network NetworkID
	Peer    peer.ID
	Name    string
	Bio     string
	// Support is a web link where people can support the member (tips,
	// subscriptions: the payment happens outside clubnode), or empty.
	Support string
	Updated time.Time
}

type profileWire struct {
	V       int    `cbor:"0,keyasint"`
	Network string `cbor:"1,keyasint"`
	Peer    []byte `cbor:"2,keyasint"`
	Name    string `cbor:"3,keyasint"`
	Bio     string `cbor:"4,keyasint"`
	Updated int64  `cbor:"5,keyasint"`
	Support string `cbor:"6,keyasint,omitempty"`
}

func (p *Profile) Domain() string { return "clubnode/profile/v1" }
func (p *Profile) Codec() []byte  { return []byte("/clubnode/profile") }
func (p *Profile) MarshalRecord() ([]byte, error) {
	return marshal(profileWire{V: Version, Network: string(p.Network), Peer: []byte(p.Peer),
		Name: p.Name, Bio: p.Bio, Support: p.Support, Updated: p.Updated.UnixMilli()})
}
func (p *Profile) UnmarshalRecord(data []byte) error {
	var w profileWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	id, err := peerIDFromBytes("peer", w.Peer)
	if err != nil {
		return err
	}
	*p = Profile{Network: NetworkID(w.Network), Peer: id, Name: w.Name, Bio: w.Bio, Support: w.Support, Updated: time.UnixMilli(w.Updated).UTC()}
	return nil
}

// SignedProfile is a profile with the exact envelope bytes.
type SignedProfile struct {
	Profile
	Bytes []byte
}

// ValidateProfileText says what is wrong with a signed profile's name or
// bio. An empty name is allowed here, for profiles signed before names
// were required; what a user sets goes through ValidateName as well.
func ValidateProfileText(name, bio string) error {
	if err := safetext.Check("name", name, safetext.Line, MaxNameLength, false); err != nil {
		return err
	}
	return safetext.Check("bio", bio, safetext.Lines, MaxBioLength, false)
}

// MaxSupportLength bounds a profile's support link.
const MaxSupportLength = 300

// ValidateSupportLink says what is wrong with a support link: empty, or an
// http or https address of a web page, nothing a browser would run
// (javascript:, data:) and no user name or password in it.
func ValidateSupportLink(link string) error {
	if link == "" {
		return nil
	}
	if err := safetext.Check("support link", link, safetext.Line, MaxSupportLength, true); err != nil {
		return err
	}
	u, err := url.Parse(link)
	switch {
	case err != nil:
		return fmt.Errorf("support link: %w", err)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("support link: %q is not a web address (https://...)", link)
	case u.Host == "" || u.User != nil:
		return fmt.Errorf("support link: %q needs a host and no user name", link)
	}
	return nil
}

// ValidateName says what is wrong with a name a user chose: it is what
// other members see, so it must be there.
func ValidateName(name string) error {
	return safetext.Check("name", name, safetext.Line, MaxNameLength, true)
}

// SignProfile signs p with key, which must be p.Peer's.
func SignProfile(key crypto.PrivKey, p Profile) (*SignedProfile, error) {
	if err := ValidateProfileText(p.Name, p.Bio); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if err := ValidateSupportLink(p.Support); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	p.Updated = p.Updated.UTC().Truncate(time.Millisecond)
	data, err := seal(&p, key)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	return ParseProfile(data)
}

// ParseProfile verifies and decodes a profile.
func ParseProfile(data []byte) (*SignedProfile, error) {
	var p Profile
	signer, err := open("profile", data, MaxProfileSize, &p)
	if err != nil {
		return nil, err
	}
	if signer != p.Peer {
		return nil, fmt.Errorf("profile: %w: signed by %s, not by %s", ErrBadSignature, signer, p.Peer)
	}
	if err := ValidateProfileText(p.Name, p.Bio); err != nil {
		return nil, fmt.Errorf("profile: %w: %v", ErrMalformed, err)
	}
	if err := ValidateSupportLink(p.Support); err != nil {
		return nil, fmt.Errorf("profile: %w: %v", ErrMalformed, err)
	}
	return &SignedProfile{Profile: p, Bytes: append([]byte(nil), data...)}, nil
}
