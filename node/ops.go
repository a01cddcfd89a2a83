package node

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/p2p"
)

func (n *Node) networkInfo(c *identity.Chain) *apiv1.Network {
	if c == nil {
		return nil
	}
	return &apiv1.Network{ID: string(c.Network()), Name: c.Charter.Name, Founder: c.Founder().String()}
}

// Identity answers "who is this node".
func (n *Node) Identity(ctx context.Context) (apiv1.Identity, error) {
	info, err := n.store.selfInfo(ctx)
	if err != nil {
		return apiv1.Identity{}, err
	}
	out := apiv1.Identity{PeerID: n.ID().String(), Name: info.Name, Network: n.networkInfo(n.p2p.Chain()),
		NAT: string(n.nat.kind()), NATMapped: n.nat.mapped(), Reach: n.placeTraits().Reach.String()}
	for _, a := range n.p2p.Addrs() {
		out.Addrs = append(out.Addrs, a.String())
	}
	return out, nil
}

// CreateNetwork makes this node the founder of a new network.
func (n *Node) CreateNetwork(ctx context.Context, req apiv1.CreateNetworkRequest) (apiv1.Network, error) {
	n.joinMu.Lock()
	defer n.joinMu.Unlock()
	if c := n.p2p.Chain(); c != nil {
		return apiv1.Network{}, fmt.Errorf("%w: %q (%s); a node belongs to one network", p2p.ErrAlreadyMember, c.Charter.Name, c.Network())
	}
	if err := identity.ValidateNetworkName(req.Name); err != nil {
		return apiv1.Network{}, invalid("%w", err)
	}
	charter, err := identity.FoundNetwork(n.key, req.Name, n.cfg.Now())
	if err != nil {
		return apiv1.Network{}, err
	}
	chain := identity.FounderChain(charter)
	if err := n.store.setChain(ctx, chain); err != nil {
		return apiv1.Network{}, err
	}
	if err := n.enter(ctx, chain, nil); err != nil {
		return apiv1.Network{}, err
	}
	n.log.Info("founded network", "network", chain.Network(), "name", req.Name)
	return *n.networkInfo(chain), nil
}

// MaxInviteLifetime bounds how long an invite may stay valid.
const MaxInviteLifetime = 365 * 24 * time.Hour

// CreateInvite signs an invite and records it in the ledger.
func (n *Node) CreateInvite(ctx context.Context, req apiv1.CreateInviteRequest) (apiv1.Invite, error) {
	chain := n.p2p.Chain()
	if chain == nil {
		return apiv1.Invite{}, fmt.Errorf("%w: create or join one before inviting", p2p.ErrNotMember)
	}
	if n.p2p.SelfRevoked() != nil {
		return apiv1.Invite{}, fmt.Errorf("this node's membership was %w; it cannot invite", identity.ErrRevoked)
	}
	if req.Uses == 0 {
		req.Uses = 1
	}
	lifetime := time.Duration(req.ExpiresSeconds) * time.Second
	if req.ExpiresSeconds == 0 {
		lifetime = 72 * time.Hour
	}
	if lifetime < time.Second || lifetime > MaxInviteLifetime {
		return apiv1.Invite{}, invalid("expires_seconds must be between 1 and %d", int(MaxInviteLifetime.Seconds()))
	}
	var forID peer.ID
	if req.For != "" {
		id, err := peer.Decode(req.For)
		if err != nil {
			return apiv1.Invite{}, invalid("for: %q is not a peer ID: %w", req.For, err)
		}
		forID = id
	}
	var boot []string
	for _, a := range n.p2p.Addrs() {
		if len(boot) == identity.MaxBootstrapAddrs {
			break
		}
		boot = append(boot, a.String())
	}
	now := n.cfg.Now()
	inv, err := n.newInvite(chain, identity.InviteOptions{Uses: req.Uses, Expires: now.Add(lifetime),
		For: forID, Bootstrap: boot}, now)
	if err != nil {
		return apiv1.Invite{}, invalid("%w", err)
	}
	if err := n.store.addInvite(ctx, inv, now); err != nil {
		return apiv1.Invite{}, err
	}
	return apiv1.Invite{Token: inv.Text(), Network: *n.networkInfo(chain), Expires: inv.Expires,
		Uses: inv.Uses, For: req.For}, nil
}

// Join redeems an invite token and makes this node a member. Nothing is
// stored unless the whole token checks out and membership was granted.
func (n *Node) Join(ctx context.Context, req apiv1.JoinRequest) (apiv1.JoinResult, error) {
	n.joinMu.Lock()
	defer n.joinMu.Unlock()
	inv, err := identity.ParseInviteText(req.Token)
	if err != nil {
		return apiv1.JoinResult{}, invalid("%w", err)
	}
	if c := n.p2p.Chain(); c != nil {
		if c.Network() == inv.Network() {
			return n.rejoin(ctx, c, inv)
		}
		return apiv1.JoinResult{}, fmt.Errorf("invite token: %v: it is for network %s, and this node is %w: %q (%s)",
			identity.ErrWrongNetwork, inv.Network(), p2p.ErrAlreadyMember, c.Charter.Name, c.Network())
	}
	if err := inv.CheckTime(n.cfg.Now()); err != nil {
		return apiv1.JoinResult{}, invalid("%w", err)
	}
	if inv.Inviter() == n.ID() {
		return apiv1.JoinResult{}, invalid("invite token: this node signed it; give it to someone else")
	}
	var chain *identity.Chain
	if inv.Bearer() {
		chain, err = n.p2p.Redeem(ctx, inv)
		if err != nil {
			return apiv1.JoinResult{}, fmt.Errorf("join: %w", err)
		}
	} else {
		if inv.For != n.ID() {
			return apiv1.JoinResult{}, invalid("invite token: bound to %s, not to this node (%s)", inv.For, n.ID())
		}
		if chain, err = inv.BoundChain(); err != nil {
			return apiv1.JoinResult{}, invalid("%w", err)
		}
	}
	boot := p2p.BootstrapAddrs(inv)
	if err := n.store.setMembership(ctx, chain, boot, n.cfg.Now()); err != nil {
		return apiv1.JoinResult{}, err
	}
	if err := n.enter(ctx, chain, boot); err != nil {
		return apiv1.JoinResult{}, err
	}
	n.log.Info("joined network", "network", chain.Network(), "invited_by", chain.InvitedBy())
	return apiv1.JoinResult{Network: *n.networkInfo(chain), InvitedBy: chain.InvitedBy().String(), Chain: chainIDs(chain)}, nil
}

// rejoinTimeout bounds dialling a token's addresses again.
const rejoinTimeout = 20 * time.Second

// rejoin answers a token for the network this node is already in. A
// member that reaches nobody (its remembered peers gone stale, or lost)
// is let back in through the token's addresses: they are remembered and
// dialled now.
func (n *Node) rejoin(ctx context.Context, c *identity.Chain, inv *identity.SignedInvite) (apiv1.JoinResult, error) {
	res := apiv1.JoinResult{Network: *n.networkInfo(c), InvitedBy: c.InvitedBy().String(), Chain: chainIDs(c),
		AlreadyMember: true}
	if len(n.p2p.VerifiedPeers()) > 0 {
		return res, nil
	}
	ctx, cancel := context.WithTimeout(ctx, rejoinTimeout)
	defer cancel()
	var reached int
	for _, info := range p2p.BootstrapAddrs(inv) {
		if err := n.store.putPeer(ctx, info.ID, info.Addrs, n.cfg.Now()); err != nil {
			return apiv1.JoinResult{}, err
		}
		if err := n.p2p.Connect(ctx, info); err != nil {
			n.log.Debug("rejoin: an address of the token does not answer", "peer", info.ID, "err", err)
			continue
		}
		reached++
	}
	if reached == 0 {
		return apiv1.JoinResult{}, fmt.Errorf("this node is a member of %q but reaches no other member, and the token's addresses are %w",
			c.Charter.Name, rpc.ErrUnreachable)
	}
	n.log.Info("a member that reached nobody reconnected through an invite's addresses", "peers", reached)
	return res, nil
}

func chainIDs(c *identity.Chain) []string {
	var out []string
	for _, m := range c.Members() {
		out = append(out, m.String())
	}
	return out
}

func (n *Node) memberInfo(m p2p.Member) apiv1.Member {
	id := m.Chain.Member()
	out := apiv1.Member{PeerID: id.String(), Chain: chainIDs(m.Chain),
		Connected: id == n.ID() || n.p2p.Connected(id)}
	if inv := m.Chain.InvitedBy(); inv != "" {
		out.InvitedBy = inv.String()
	}
	if m.Profile != nil {
		out.Name, out.Bio, out.Support = m.Profile.Name, m.Profile.Bio, m.Profile.Support
	}
	return out
}

// Members lists the members this node knows, itself included.
func (n *Node) Members(context.Context) ([]apiv1.Member, error) {
	if n.p2p.Chain() == nil {
		return nil, p2p.ErrNotMember
	}
	out := []apiv1.Member{}
	for _, m := range n.p2p.Members() {
		out = append(out, n.memberInfo(m))
	}
	return out, nil
}

// Profile shows one member's profile.
func (n *Node) Profile(_ context.Context, id string) (apiv1.Member, error) {
	p, err := peer.Decode(id)
	if err != nil {
		return apiv1.Member{}, invalid("%q is not a peer ID: %w", id, err)
	}
	m, ok := n.p2p.Member(p)
	if !ok {
		return apiv1.Member{}, fmt.Errorf("member %s: %w: this node knows no such member", p, ErrNotFound)
	}
	return n.memberInfo(m), nil
}

// SetProfile changes this node's name and bio, and tells the network.
// One change at a time: the stored name, the signed profile and the one
// the network holds are always the same, and each newer than the last.
func (n *Node) SetProfile(ctx context.Context, req apiv1.SetProfileRequest) (apiv1.Member, error) {
	name, bio := req.Name, req.Bio
	if err := identity.ValidateName(name); err != nil {
		return apiv1.Member{}, invalid("%w", err)
	}
	if err := identity.ValidateProfileText(name, bio); err != nil {
		return apiv1.Member{}, invalid("%w", err)
	}
	n.profileMu.Lock()
	defer n.profileMu.Unlock()
	self, err := n.store.selfInfo(ctx)
	if err != nil {
		return apiv1.Member{}, err
	}
	support := self.Support
	if req.Support != nil {
		support = *req.Support
	}
	if err := identity.ValidateSupportLink(support); err != nil {
		return apiv1.Member{}, invalid("%w", err)
	}
	info := selfInfo{Name: name, Bio: bio, Support: support}
	chain := n.p2p.Chain()
	if chain == nil {
		if err := n.store.setSelf(ctx, info, nil); err != nil {
			return apiv1.Member{}, err
		}
		return apiv1.Member{PeerID: n.ID().String(), Name: name, Bio: bio, Support: support}, nil
	}
	// Signed profiles carry milliseconds: compare at that precision, or
	// a change within the millisecond of the last would sign the same
	// time and the network would keep the older profile.
	updated := n.cfg.Now().Truncate(time.Millisecond)
	if prev, err := n.store.profile(ctx); err != nil {
		return apiv1.Member{}, err
	} else if prev != nil && prev.Network == chain.Network() && !updated.After(prev.Updated) {
		// Versions are ordered by time, to the millisecond: two changes
		// in one millisecond must still be two versions.
		updated = prev.Updated.Add(time.Millisecond)
	}
	p, err := identity.SignProfile(n.key, identity.Profile{Network: chain.Network(), Peer: n.ID(),
		Name: name, Bio: bio, Support: support, Updated: updated})
	if err != nil {
		return apiv1.Member{}, err
	}
	if err := n.store.setSelf(ctx, info, p); err != nil {
		return apiv1.Member{}, err
	}
	if err := n.p2p.PublishProfile(ctx, p); err != nil {
		n.log.Warn("profile saved but not yet published", "err", err)
	}
	return n.memberInfo(p2p.Member{Chain: chain, Profile: p}), nil
}

// Revoke withdraws a member's membership (and, if asked, its invitees').
func (n *Node) Revoke(ctx context.Context, req apiv1.RevokeRequest) (apiv1.Revocation, error) {
	withInvitees := req.WithInvitees
	p, err := peer.Decode(req.Peer)
	if err != nil {
		return apiv1.Revocation{}, invalid("%q is not a peer ID: %w", req.Peer, err)
	}
	if n.p2p.Chain() == nil {
		return apiv1.Revocation{}, p2p.ErrNotMember
	}
	if p == n.ID() {
		return apiv1.Revocation{}, invalid("a node cannot revoke itself")
	}
	m, ok := n.p2p.Member(p)
	if !ok {
		return apiv1.Revocation{}, fmt.Errorf("member %s: %w: this node knows no such member", p, ErrNotFound)
	}
	rev, err := identity.Revoke(n.key, m.Chain, withInvitees, n.p2p.InviteesOf(p), n.cfg.Now())
	if err != nil {
		return apiv1.Revocation{}, err
	}
	// Stored before it is spread: it must survive a crash right after.
	if err := n.store.putRevocation(ctx, rev); err != nil {
		return apiv1.Revocation{}, err
	}
	if err := n.p2p.PublishRevocation(ctx, rev); err != nil {
		n.log.Warn("revocation stored but not yet spread", "err", err)
	}
	return apiv1.Revocation{Peer: p.String(), Revoker: n.ID().String(), WithInvitees: withInvitees, At: rev.At}, nil
}

// Peers lists the connected peers.
func (n *Node) Peers(context.Context) ([]apiv1.Peer, error) {
	h := n.p2p.Host()
	out := []apiv1.Peer{}
	for _, p := range h.Network().Peers() {
		conns := h.Network().ConnsToPeer(p)
		if c := h.Network().Connectedness(p); len(conns) == 0 || c != network.Connected && c != network.Limited {
			continue
		}
		out = append(out, peerOf(h, p, conns, n.p2p.Connected(p)))
	}
	return out, nil
}
