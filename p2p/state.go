package p2p

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
)

// ErrNotMember is returned by operations that need this node to be a member.
var ErrNotMember = errors.New("this node is not a member of any network yet")

// ErrAlreadyMember: the node is a member of a network already (a node
// belongs to one).
var ErrAlreadyMember = errors.New("already a member of a network")

// ErrInviteUsedUp: a bearer invite has no uses left (the Ledger says so).
var ErrInviteUsedUp = errors.New("invite has no uses left")

// Member is what the node knows of one member of its network.
type Member struct {
	Chain   *identity.Chain
	Profile *identity.SignedProfile // nil until the member published one
}

// netState exists once the node is a member: its network, proof, the known
// revocations and members, and the services scoped to the network.
type netState struct {
	chain   *identity.Chain
	ownWire []byte // chain.Marshal(), which hello, gossip and syncs send
	revs    *identity.Revocations
	members map[peer.ID]heldMember
	self    *identity.SignedProfile
	revoked *identity.SignedRevocation // set when this node itself is revoked
	limits  *authorLimits              // membership gossip per author
	synced  map[peer.ID]time.Time      // when a members sync from each peer last started (n.mu)

	kad      *dht.IpfsDHT // the members' DHT, once discovery runs
	topic    *pubsub.Topic
	cancelFn context.CancelFunc
	stops    []func() error
}

func (s *netState) close() {
	s.cancelFn()
	for _, stop := range s.stops {
		_ = stop()
	}
}

func (s *netState) network() identity.NetworkID { return s.chain.Network() }

// allowed is the gater's rule: refuse peers whose own membership is revoked.
func (n *Node) allowed(p peer.ID) bool {
	n.mu.Lock()
	st := n.net
	n.mu.Unlock()
	if st == nil {
		return true
	}
	if _, revoked := st.revs.Get(p); revoked {
		return false
	}
	if m, ok := n.member(p); ok && st.revs.Check(m.Chain) != nil {
		return false
	}
	return true
}

func (n *Node) state() (*netState, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net == nil {
		return nil, ErrNotMember
	}
	return n.net, nil
}

func (n *Node) isVerified(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.verified[p]
	return ok
}

// VerifiedChain returns the chain a connected peer proved, if it did.
func (n *Node) VerifiedChain(p peer.ID) (*identity.Chain, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.verified[p]
	return c, ok
}

// VerifiedPeers lists the connected peers that proved membership.
func (n *Node) VerifiedPeers() []peer.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Sorted(maps.Keys(n.verified))
}

func (n *Node) member(p peer.ID) (Member, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net == nil {
		return Member{}, false
	}
	m, ok := n.net.members[p]
	return m.Member, ok
}

// Members lists the known members whose membership is valid now, this node
// included, ordered by peer ID.
func (n *Node) Members() []Member {
	valid := n.validMembers()
	out := make([]Member, len(valid))
	for i, m := range valid {
		out[i] = m.Member
	}
	return out
}

// validMembers is Members with the bytes a members sync sends.
func (n *Node) validMembers() []heldMember {
	n.mu.Lock()
	st := n.net
	var all []heldMember
	if st != nil {
		all = slices.Collect(maps.Values(st.members))
	}
	n.mu.Unlock()
	now := n.cfg.Now()
	out := all[:0]
	for _, m := range all {
		if m.Chain.Verify(st.network(), m.Chain.Member(), st.revs, now) == nil {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Chain.Member() < out[j].Chain.Member() })
	return out
}

// InviteesOf lists the members this node knows that p invited, by peer
// ID: who a revocation of p without invitees keeps (at most
// identity.MaxKeep, the first in ID order).
func (n *Node) InviteesOf(p peer.ID) []peer.ID {
	n.mu.Lock()
	var out []peer.ID
	if n.net != nil {
		for id, m := range n.net.members {
			if m.Chain.InvitedBy() == p {
				out = append(out, id)
			}
		}
	}
	n.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out[:min(len(out), identity.MaxKeep)]
}

// Member returns what is known of one member, valid or not.
func (n *Node) Member(p peer.ID) (Member, bool) { return n.member(p) }

// Revocations is the live set of revocations, or nil before joining.
func (n *Node) Revocations() *identity.Revocations {
	st, err := n.state()
	if err != nil {
		return nil
	}
	return st.revs
}

// SelfRevoked returns the revocation of this node's own membership, if any.
func (n *Node) SelfRevoked() *identity.SignedRevocation {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net == nil {
		return nil
	}
	return n.net.revoked
}

// Chain is this node's own membership chain, or nil.
func (n *Node) Chain() *identity.Chain {
	st, err := n.state()
	if err != nil {
		return nil
	}
	return st.chain
}

// rememberMember stores or refreshes a member's chain and returns what is
// now known of the member.
func (n *Node) rememberMember(c *identity.Chain) Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net == nil {
		return Member{Chain: c}
	}
	id := c.Member()
	m := n.net.members[id].Member
	m.Chain = c
	n.net.members[id] = hold(m)
	return m
}

// acceptProfile keeps p if it is newer than the one held; it reports whether
// it did. An older or equal profile is a replay.
func (n *Node) acceptProfile(p *identity.SignedProfile, c *identity.Chain) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net == nil {
		return false
	}
	m := n.net.members[p.Peer]
	if m.Profile != nil && !p.Updated.After(m.Profile.Updated) {
		return false
	}
	n.net.members[p.Peer] = hold(Member{Chain: c, Profile: p})
	return true
}

// applyRevocation adds r to the known set; if it is new it is handed to the
// owner, and every connected peer whose membership it ends is disconnected.
func (n *Node) applyRevocation(r *identity.SignedRevocation) (bool, error) {
	st, err := n.state()
	if err != nil {
		return false, err
	}
	changed, err := st.revs.Add(r)
	if err != nil || !changed {
		return false, err
	}
	n.log.Info("revocation accepted", "subject", r.Subject, "revoker", r.Revoker, "with_invitees", r.WithInvitees)
	n.cfg.Events.RevocationReceived(r)
	now := n.cfg.Now()
	if st.revs.Check(st.chain) != nil {
		n.mu.Lock()
		n.net.revoked = r
		n.mu.Unlock()
		n.log.Warn("this node's membership was revoked", "revoker", r.Revoker)
	}
	n.mu.Lock()
	var cut []peer.ID
	for p, c := range n.verified {
		if err := c.Verify(st.network(), p, st.revs, now); err != nil {
			cut = append(cut, p)
			delete(n.verified, p)
		}
	}
	n.mu.Unlock()
	for _, p := range cut {
		p := p
		n.log.Info("disconnecting revoked peer", "peer", p)
		n.goFn(func(ctx context.Context) { n.sayGoodbye(ctx, p, "membership revoked", r.Bytes) })
	}
	return true, nil
}

// verifyChain parses data as a chain and checks that it proves p's
// membership of this node's network now.
func (n *Node) verifyChain(st *netState, data []byte, p peer.ID) (*identity.Chain, error) {
	c, err := identity.ParseChain(data)
	if err != nil {
		return nil, err
	}
	if err := c.Verify(st.network(), p, st.revs, n.cfg.Now()); err != nil {
		return nil, err
	}
	return c, nil
}

func fmtPeerErr(p peer.ID, err error) error { return fmt.Errorf("peer %s: %w", p, err) }
