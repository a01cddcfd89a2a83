package p2p

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
)

// NetworkState is what a node knows of its network when it starts being a
// member: its own chain and what it persisted before.
type NetworkState struct {
	Chain       *identity.Chain
	Profile     *identity.SignedProfile // may be nil
	Revocations []*identity.SignedRevocation
	Members     []Member
	KnownPeers  []peer.AddrInfo
}

// Enter makes the node a member of st.Chain's network: it joins the
// membership topic, starts discovery and says hello to peers already
// connected. A node is a member of one network.
func (n *Node) Enter(state NetworkState) error {
	if err := state.Chain.Verify(state.Chain.Network(), n.ID(), nil, n.cfg.Now()); err != nil {
		return fmt.Errorf("enter network: %w", err)
	}
	network := state.Chain.Network()
	revs := identity.NewRevocations(network)
	for _, r := range state.Revocations {
		if _, err := revs.Add(r); err != nil {
			return fmt.Errorf("enter network: %w", err)
		}
	}
	st := &netState{chain: state.Chain, ownWire: state.Chain.Marshal(), revs: revs, members: map[peer.ID]heldMember{}, self: state.Profile, limits: newAuthorLimits(),
		synced: map[peer.ID]time.Time{}}
	for _, m := range state.Members {
		if m.Chain == nil || m.Chain.Network() != network {
			continue
		}
		st.members[m.Chain.Member()] = hold(m)
	}
	st.members[n.ID()] = hold(Member{Chain: state.Chain, Profile: state.Profile})
	// Everyone up this node's own chain is a member it knows of, even
	// before meeting them: a newcomer's inviter is one, and may be dialled.
	for i := range state.Chain.Certs {
		up := &identity.Chain{Charter: state.Chain.Charter, Certs: state.Chain.Certs[:i]}
		if _, ok := st.members[up.Member()]; !ok {
			st.members[up.Member()] = hold(Member{Chain: up})
		}
	}
	if revs.Check(state.Chain) != nil {
		st.revoked, _ = revs.Get(n.ID())
	}

	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return fmt.Errorf("enter network: node is closed")
	}
	if n.net != nil {
		current := n.net.network()
		n.mu.Unlock()
		return fmt.Errorf("enter network: %w: %s", ErrAlreadyMember, current)
	}
	n.net = st
	n.mu.Unlock()

	ctx, cancel := context.WithCancel(n.ctx)
	st.cancelFn = cancel
	if err := n.startGossip(ctx, st); err != nil {
		return err
	}
	if err := n.startDiscovery(ctx, st, state.KnownPeers); err != nil {
		return err
	}
	for _, p := range n.host.Network().Peers() {
		p := p
		n.goFn(func(ctx context.Context) { _ = n.sayHello(ctx, p) })
	}
	n.log.Info("member of network", "network", network, "founder", state.Chain.Founder())
	return nil
}

func (n *Node) startGossip(ctx context.Context, st *netState) error {
	name := MembershipTopic(st.network())
	if err := n.ps.RegisterTopicValidator(name, n.validate(st)); err != nil {
		return fmt.Errorf("membership topic validator: %w", err)
	}
	topic, err := n.ps.Join(name)
	if err != nil {
		return fmt.Errorf("join membership topic: %w", err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		return fmt.Errorf("subscribe membership topic: %w", err)
	}
	if err := topic.SetScoreParams(topicScoreParams()); err != nil {
		return fmt.Errorf("membership topic scoring: %w", err)
	}
	events, err := topic.EventHandler()
	if err != nil {
		return fmt.Errorf("membership topic events: %w", err)
	}
	st.topic = topic
	// The event handler is cancelled before the topic closes, in this
	// order on one goroutine: pubsub reads a topic's handlers unlocked
	// when it closes the topic.
	st.stops = append(st.stops, func() error { events.Cancel(); return nil },
		topic.Close, func() error { return n.ps.UnregisterTopicValidator(name) })
	n.goFn(func(context.Context) { n.readGossip(ctx, sub) })
	n.goFn(func(context.Context) { n.syncOnSubscribe(ctx, events) })
	n.goFn(func(context.Context) { n.syncLoop(ctx, st) })
	n.goFn(func(context.Context) { n.announceSelf(ctx, st) })
	return nil
}

// announceSelf tells the network who this node is once someone can hear
// it: its profile goes out on gossip as soon as the membership topic has a
// peer (publishing before that, as a newcomer entering the network would,
// reaches nobody, and members it never meets directly would know it by
// its peer ID only until it next changed its profile).
func (n *Node) announceSelf(ctx context.Context, st *netState) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for len(st.topic.ListPeers()) == 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	m, ok := n.member(n.ID())
	if !ok || m.Profile == nil {
		return
	}
	if err := n.publish(ctx, st, memberEntry{Profile: m.Profile.Bytes}); err != nil && ctx.Err() == nil {
		n.log.Debug("own profile not announced", "err", err)
	}
}

// Connect dials a peer; hello follows automatically.
func (n *Node) Connect(ctx context.Context, info peer.AddrInfo) error {
	if err := n.host.Connect(ctx, info); err != nil {
		return fmt.Errorf("connect to %s: %w", info.ID, err)
	}
	return nil
}

// Connected reports whether p is connected and verified.
func (n *Node) Connected(p peer.ID) bool {
	return n.host.Network().Connectedness(p) == network.Connected && n.isVerified(p)
}
