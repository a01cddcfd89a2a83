package identity

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Chain proves membership: the network's charter, then one certificate per
// invitation from the founder down to the member. The founder's own chain
// has no certificates.
type Chain struct {
	Charter *SignedCharter
	Certs   []*SignedCert
}

type chainWire struct {
	V       int      `cbor:"0,keyasint"`
	Charter []byte   `cbor:"1,keyasint"`
	Certs   [][]byte `cbor:"2,keyasint"`
}

// FounderChain is the chain of a network's founder.
func FounderChain(charter *SignedCharter) *Chain { return &Chain{Charter: charter} }

// Network is the ID of the network the chain proves membership of.
func (c *Chain) Network() NetworkID { return c.Charter.Network }

// Founder is the network's founder.
func (c *Chain) Founder() peer.ID { return c.Charter.Founder }

// Member is the peer whose membership the chain proves.
func (c *Chain) Member() peer.ID {
	if len(c.Certs) == 0 {
		return c.Charter.Founder
	}
	return c.Certs[len(c.Certs)-1].Member
}

// InvitedBy is the member who invited Member, or "" for the founder.
func (c *Chain) InvitedBy() peer.ID {
	if len(c.Certs) == 0 {
		return ""
	}
	return c.Certs[len(c.Certs)-1].Inviter
}

// Members lists the chain's members, founder first, Member last.
func (c *Chain) Members() []peer.ID {
	out := make([]peer.ID, 0, len(c.Certs)+1)
	out = append(out, c.Charter.Founder)
	for _, cert := range c.Certs {
		out = append(out, cert.Member)
	}
	return out
}

// Extend returns the chain with one more certificate, checked like a parsed
// chain.
func (c *Chain) Extend(cert *SignedCert) (*Chain, error) {
	certs := append(append([]*SignedCert(nil), c.Certs...), cert)
	next := &Chain{Charter: c.Charter, Certs: certs}
	if err := next.checkLinks(); err != nil {
		return nil, err
	}
	return next, nil
}

// Marshal encodes the chain.
func (c *Chain) Marshal() []byte {
	w := chainWire{V: Version, Charter: c.Charter.Bytes, Certs: make([][]byte, len(c.Certs))}
	for i, cert := range c.Certs {
		w.Certs[i] = cert.Bytes
	}
	data, err := marshal(w)
	if err != nil {
		// Only byte strings and an int: encoding cannot fail.
		panic(fmt.Sprintf("encode chain: %v", err))
	}
	return data
}

// ParseChain decodes a chain and verifies every signature and link in it.
// It does not consult revocations: see Revocations.Check.
func ParseChain(data []byte) (*Chain, error) {
	if len(data) > MaxChainSize {
		return nil, fmt.Errorf("membership chain: %w (%d bytes, limit %d)", ErrTooLarge, len(data), MaxChainSize)
	}
	var w chainWire
	if err := decodePayload(data, &w); err != nil {
		return nil, fmt.Errorf("membership chain: %w", err)
	}
	if len(w.Certs) > MaxChainLength {
		return nil, fmt.Errorf("membership chain: %w: %d certificates, limit %d", ErrTooLarge, len(w.Certs), MaxChainLength)
	}
	charter, err := ParseCharter(w.Charter)
	if err != nil {
		return nil, fmt.Errorf("membership chain: %w", err)
	}
	c := &Chain{Charter: charter, Certs: make([]*SignedCert, len(w.Certs))}
	for i, raw := range w.Certs {
		cert, err := ParseCert(raw)
		if err != nil {
			return nil, fmt.Errorf("membership chain: link %d: %w", i+1, err)
		}
		c.Certs[i] = cert
	}
	if err := c.checkLinks(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkLinks verifies that each certificate was issued by the previous
// member, into the charter's network, and that nobody appears twice.
func (c *Chain) checkLinks() error {
	if len(c.Certs) > MaxChainLength {
		return fmt.Errorf("membership chain: %w: %d certificates, limit %d", ErrTooLarge, len(c.Certs), MaxChainLength)
	}
	seen := map[peer.ID]bool{c.Charter.Founder: true}
	prev := c.Charter.Founder
	prevIssued := c.Charter.Created
	for i, cert := range c.Certs {
		// A member cannot have invited anyone before it was invited
		// itself: a certificate dated earlier was backdated.
		if cert.Issued.Before(prevIssued) {
			return fmt.Errorf("membership chain: link %d: %w: issued at %s, before its inviter's own (%s)", i+1, ErrBrokenChain,
				cert.Issued.Format(time.RFC3339), prevIssued.Format(time.RFC3339))
		}
		prevIssued = cert.Issued
		if cert.Network != c.Charter.Network {
			return fmt.Errorf("membership chain: link %d: %w: certificate for %s in a chain of %s", i+1, ErrWrongNetwork, cert.Network, c.Charter.Network)
		}
		if cert.Inviter != prev {
			return fmt.Errorf("membership chain: link %d: %w: issued by %s, but the previous member is %s", i+1, ErrBrokenChain, cert.Inviter, prev)
		}
		if seen[cert.Member] {
			return fmt.Errorf("membership chain: link %d: %w: %s appears twice", i+1, ErrBrokenChain, cert.Member)
		}
		seen[cert.Member] = true
		prev = cert.Member
	}
	return nil
}

// Verify checks that the chain proves membership of peer in network at now,
// given the revocations known. It is the one check every gate uses.
func (c *Chain) Verify(network NetworkID, member peer.ID, revs *Revocations, now time.Time) error {
	// ParseChain and Extend check the links, but Chain's fields are
	// exported: check again so a chain put together by hand cannot pass.
	if err := c.checkLinks(); err != nil {
		return err
	}
	if c.Network() != network {
		return fmt.Errorf("membership chain: %w: chain is for %s, this network is %s", ErrWrongNetwork, c.Network(), network)
	}
	if c.Member() != member {
		return fmt.Errorf("membership chain: %w: the chain proves %s, not %s", ErrBrokenChain, c.Member(), member)
	}
	for i, cert := range c.Certs {
		if cert.Issued.After(now.Add(ClockSkew)) {
			return fmt.Errorf("membership chain: link %d: %w: issued at %s", i+1, ErrNotYetValid, cert.Issued.Format(time.RFC3339))
		}
	}
	if revs != nil {
		return revs.Check(c)
	}
	return nil
}
