package identity

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Revocation withdraws Subject's membership. It is signed by the founder or
// by a member above Subject in Subject's chain, which it carries so that
// anyone can check that authority without asking anyone.
//
// With WithInvitees, every chain that passes through Subject is invalid.
// Without it, the members Subject invited stay members if the revocation
// names them in Keep: the revoker lists the invitees of Subject it knows
// when it signs. A certificate Subject signs is worth nothing otherwise,
// whatever date Subject writes in it, so a revoked member cannot go on
// inviting by backdating. (Revocations made before Keep existed have
// Listed false and fall back to the dates: invitees certified before At
// stay.)
type Revocation struct {
	Network      NetworkID
	Subject      peer.ID
	Revoker      peer.ID
	WithInvitees bool
	At           time.Time
	SubjectChain *Chain
	Listed       bool      // Keep is the rule (always, for new revocations)
	Keep         []peer.ID // Subject's invitees who stay members
}

// MaxKeep bounds the invitees one revocation keeps.
const MaxKeep = 1000

type revocationWire struct {
	V            int    `cbor:"0,keyasint"`
	Network      string `cbor:"1,keyasint"`
	Subject      []byte `cbor:"2,keyasint"`
	Revoker      []byte `cbor:"3,keyasint"`
	WithInvitees bool   `cbor:"4,keyasint"`
	At           int64  `cbor:"5,keyasint"`
	SubjectChain []byte `cbor:"6,keyasint"`
	Listed       bool   `cbor:"7,keyasint,omitempty"`
	// Keep is packed (each peer ID prefixed with its length) so that a
	// long list is one byte string, not a CBOR array of a thousand items.
	Keep []byte `cbor:"8,keyasint,omitempty"`
}

func (r *Revocation) Domain() string { return "clubnode/revocation/v1" }
func (r *Revocation) Codec() []byte  { return []byte("/clubnode/revocation") }
func (r *Revocation) MarshalRecord() ([]byte, error) {
	keep, err := packPeers(r.Keep)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	return marshal(revocationWire{V: Version, Network: string(r.Network), Subject: []byte(r.Subject),
		Revoker: []byte(r.Revoker), WithInvitees: r.WithInvitees, At: r.At.Unix(), SubjectChain: r.SubjectChain.Marshal(),
		Listed: r.Listed, Keep: keep})
}
func (r *Revocation) UnmarshalRecord(data []byte) error {
	var w revocationWire
	if err := decodePayload(data, &w); err != nil {
		return err
	}
	subject, err := peerIDFromBytes("subject", w.Subject)
	if err != nil {
		return err
	}
	revoker, err := peerIDFromBytes("revoker", w.Revoker)
	if err != nil {
		return err
	}
	chain, err := ParseChain(w.SubjectChain)
	if err != nil {
		return fmt.Errorf("subject's chain: %w", err)
	}
	keep, err := unpackPeers(w.Keep)
	if err != nil {
		return fmt.Errorf("revocation: keep: %w", err)
	}
	if len(keep) > 0 && (!w.Listed || w.WithInvitees) {
		return fmt.Errorf("revocation: %w: invitees kept by a revocation that keeps none", ErrMalformed)
	}
	*r = Revocation{Network: NetworkID(w.Network), Subject: subject, Revoker: revoker,
		WithInvitees: w.WithInvitees, At: time.Unix(w.At, 0).UTC(), SubjectChain: chain, Listed: w.Listed, Keep: keep}
	return nil
}

// keeps reports whether this revocation keeps p, invited by its subject.
func (r *Revocation) keeps(p peer.ID, issued time.Time) bool {
	if !r.Listed {
		return !issued.After(r.At)
	}
	for _, k := range r.Keep {
		if k == p {
			return true
		}
	}
	return false
}

// packPeers encodes peer IDs as one byte string, each prefixed with its
// length in one byte.
func packPeers(ids []peer.ID) ([]byte, error) {
	if len(ids) > MaxKeep {
		return nil, fmt.Errorf("%w: %d peers, limit %d", ErrTooLarge, len(ids), MaxKeep)
	}
	var out []byte
	for _, id := range ids {
		b := []byte(id)
		if len(b) == 0 || len(b) > 255 {
			return nil, fmt.Errorf("%w: a %d-byte peer ID", ErrMalformed, len(b))
		}
		out = append(append(out, byte(len(b))), b...)
	}
	return out, nil
}

func unpackPeers(data []byte) ([]peer.ID, error) {
	var out []peer.ID
	seen := map[peer.ID]bool{}
	for len(data) > 0 {
		n := int(data[0])
		if n == 0 || len(data) < 1+n {
			return nil, fmt.Errorf("%w: truncated peer list", ErrMalformed)
		}
		id, err := peerIDFromBytes("peer", data[1:1+n])
		if err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: %s listed twice", ErrMalformed, id)
		}
		if len(out) == MaxKeep {
			return nil, fmt.Errorf("%w: more than %d peers", ErrTooLarge, MaxKeep)
		}
		seen[id] = true
		out = append(out, id)
		data = data[1+n:]
	}
	return out, nil
}

// SignedRevocation is a revocation with the exact envelope bytes.
type SignedRevocation struct {
	Revocation
	Bytes []byte
}

// Revoke signs a revocation of the member whose chain is subjectChain. key
// must belong to the founder or to a member above the subject in that chain.
// Without invitees, keep names the subject's invitees that stay members (at
// most MaxKeep): those the revoker knows of.
func Revoke(key crypto.PrivKey, subjectChain *Chain, withInvitees bool, keep []peer.ID, now time.Time) (*SignedRevocation, error) {
	revoker, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("revoke: %w", err)
	}
	if withInvitees {
		keep = nil
	}
	r := Revocation{Network: subjectChain.Network(), Subject: subjectChain.Member(), Revoker: revoker,
		WithInvitees: withInvitees, At: now.UTC().Truncate(time.Second), SubjectChain: subjectChain,
		Listed: !withInvitees, Keep: keep}
	if err := r.checkAuthority(); err != nil {
		return nil, fmt.Errorf("revoke %s: %w", r.Subject, err)
	}
	data, err := seal(&r, key)
	if err != nil {
		return nil, fmt.Errorf("revoke: %w", err)
	}
	return ParseRevocation(data)
}

// ParseRevocation verifies and decodes a revocation.
func ParseRevocation(data []byte) (*SignedRevocation, error) {
	var r Revocation
	signer, err := open("revocation", data, MaxRevocationSize, &r)
	if err != nil {
		return nil, err
	}
	if signer != r.Revoker {
		return nil, fmt.Errorf("revocation: %w: signed by %s, not by the revoker %s", ErrBadSignature, signer, r.Revoker)
	}
	if err := r.checkAuthority(); err != nil {
		return nil, fmt.Errorf("revocation of %s: %w", r.Subject, err)
	}
	return &SignedRevocation{Revocation: r, Bytes: append([]byte(nil), data...)}, nil
}

func (r *Revocation) checkAuthority() error {
	if r.SubjectChain.Network() != r.Network {
		return fmt.Errorf("%w: subject's chain is for %s", ErrWrongNetwork, r.SubjectChain.Network())
	}
	if r.SubjectChain.Member() != r.Subject {
		return fmt.Errorf("%w: the chain carried proves %s", ErrBrokenChain, r.SubjectChain.Member())
	}
	members := r.SubjectChain.Members()
	if r.Subject == members[0] {
		return fmt.Errorf("%w: the founder cannot be revoked", ErrNotAuthorized)
	}
	for _, m := range members[:len(members)-1] {
		if m == r.Revoker {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is neither the founder nor above the subject in its chain", ErrNotAuthorized, r.Revoker)
}

// maxRevocationsPerSubject bounds what is kept about one member: one
// revocation per distinct revoker, and only a handful of revokers.
const maxRevocationsPerSubject = 8

// Revocations is the set of revocations a node knows, safe for concurrent use.
//
// A revocation takes effect only if its revoker was itself a member in good
// standing when it signed: a member that was revoked cannot go on to revoke
// the people it had invited. Since that depends on other revocations, the
// set keeps every revocation of a subject by a distinct revoker and decides
// in Check, whatever order they arrived in.
type Revocations struct {
	mu      sync.RWMutex
	network NetworkID
	bySubj  map[peer.ID][]*SignedRevocation
}

// NewRevocations makes an empty set for one network.
func NewRevocations(network NetworkID) *Revocations {
	return &Revocations{network: network, bySubj: map[peer.ID][]*SignedRevocation{}}
}

// Add records r. It reports whether the set changed: a second revocation
// of a subject by the same revoker only counts if it also revokes the
// invitees or is earlier.
func (s *Revocations) Add(r *SignedRevocation) (bool, error) {
	if r.Network != s.network {
		return false, fmt.Errorf("revocation: %w: for %s, this network is %s", ErrWrongNetwork, r.Network, s.network)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.bySubj[r.Subject]
	for i, old := range list {
		if old.Revoker != r.Revoker {
			continue
		}
		if stronger(r, old) {
			list[i] = r
			return true, nil
		}
		return false, nil
	}
	if len(list) >= maxRevocationsPerSubject {
		return false, nil
	}
	s.bySubj[r.Subject] = append(list, r)
	return true, nil
}

// Get returns the strongest revocation of subject in effect (with
// invitees first, then the earliest), if any.
func (s *Revocations) Get(subject peer.ID) (*SignedRevocation, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best *SignedRevocation
	memo := standing{}
	for _, r := range s.bySubj[subject] {
		if s.effective(r, memo) && (best == nil || stronger(r, best)) {
			best = r
		}
	}
	return best, best != nil
}

func stronger(a, b *SignedRevocation) bool {
	if a.WithInvitees != b.WithInvitees {
		return a.WithInvitees
	}
	if !a.At.Equal(b.At) {
		return a.At.Before(b.At)
	}
	return a.Revoker < b.Revoker
}

// All lists every revocation known, in effect or not (a later revocation
// can change which are), ordered by subject then revoker.
func (s *Revocations) All() []*SignedRevocation {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*SignedRevocation
	for _, list := range s.bySubj {
		out = append(out, list...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Revoker < out[j].Revoker
	})
	return out
}

// Check returns an error wrapping ErrRevoked if any link of c is revoked.
func (s *Revocations) Check(c *Chain) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.check(c, time.Time{}, standing{})
}

// standing memoises, for one Check or Get, whether each revocation is in
// effect: without it, revocations of many ancestors would have the same
// shorter chains checked over and over, exponentially in the chain length.
type standing map[*SignedRevocation]bool

// effective reports whether r's revoker was in good standing when it
// signed r. Callers hold the lock.
func (s *Revocations) effective(r *SignedRevocation, memo standing) bool {
	if ok, known := memo[r]; known {
		return ok
	}
	ok := false
	members := r.SubjectChain.Members()
	for i, m := range members[:len(members)-1] {
		if m == r.Revoker {
			prefix := &Chain{Charter: r.SubjectChain.Charter, Certs: r.SubjectChain.Certs[:i]}
			ok = s.check(prefix, r.At, memo) == nil
			break
		}
	}
	memo[r] = ok
	return ok
}

// check is Check counting only revocations signed at or before asOf (all,
// if asOf is zero). The recursion through effective ends: each step looks
// at a strictly shorter chain.
func (s *Revocations) check(c *Chain, asOf time.Time, memo standing) error {
	for i, cert := range c.Certs {
		for _, r := range s.bySubj[cert.Member] {
			if (!asOf.IsZero() && r.At.After(asOf)) || !s.effective(r, memo) {
				continue
			}
			last := i == len(c.Certs)-1
			switch {
			case last:
				return fmt.Errorf("membership of %s: %w by %s", cert.Member, ErrRevoked, r.Revoker)
			case r.WithInvitees:
				return fmt.Errorf("membership of %s: %w: its chain passes through %s, revoked with invitees by %s", c.Member(), ErrRevoked, cert.Member, r.Revoker)
			case !r.keeps(c.Certs[i+1].Member, c.Certs[i+1].Issued):
				return fmt.Errorf("membership of %s: %w: invited by %s, who was revoked, and not kept by the revocation", c.Certs[i+1].Member, ErrRevoked, cert.Member)
			}
		}
	}
	return nil
}
