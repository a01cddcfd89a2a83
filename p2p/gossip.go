package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
)

// memberEntry is one membership event, on gossip or in a members sync: a
// member's chain, with its profile, or a revocation with the chain of the
// member that passes it on.
type memberEntry struct {
	V          int    `cbor:"0,keyasint"`
	Chain      []byte `cbor:"1,keyasint"`
	Profile    []byte `cbor:"2,keyasint,omitempty"`
	Revocation []byte `cbor:"3,keyasint,omitempty"`
}

// checkedEntry is a memberEntry whose signatures and membership were
// verified.
type checkedEntry struct {
	chain      *identity.Chain
	profile    *identity.SignedProfile
	revocation *identity.SignedRevocation
}

var errStaleProfile = errors.New("profile is older than the one held, or another of the same time")

// decodeEntry decodes a gossip message.
func decodeEntry(data []byte) (memberEntry, error) {
	var e memberEntry
	if len(data) > MaxGossipMessage {
		return e, fmt.Errorf("membership message: %w (%d bytes)", wire.ErrTooLarge, len(data))
	}
	if err := wire.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("membership message: %w", err)
	}
	return e, nil
}

// checkEntry verifies everything in an entry against this node's view of
// the network.
func (n *Node) checkEntry(st *netState, e memberEntry) (*checkedEntry, error) {
	if e.V != 1 {
		return nil, fmt.Errorf("membership message: %w %d", identity.ErrBadVersion, e.V)
	}
	if len(e.Profile) > 0 && len(e.Revocation) > 0 {
		return nil, fmt.Errorf("membership message: %w: both a profile and a revocation", wire.ErrMalformed)
	}
	c, err := identity.ParseChain(e.Chain)
	if err != nil {
		return nil, err
	}
	if err := c.Verify(st.network(), c.Member(), st.revs, n.cfg.Now()); err != nil {
		return nil, err
	}
	out := &checkedEntry{chain: c}
	switch {
	case len(e.Revocation) > 0:
		if out.revocation, err = identity.ParseRevocation(e.Revocation); err != nil {
			return nil, err
		}
		if out.revocation.Network != st.network() {
			return nil, fmt.Errorf("revocation: %w", identity.ErrWrongNetwork)
		}
	case len(e.Profile) > 0:
		if out.profile, err = identity.ParseProfile(e.Profile); err != nil {
			return nil, err
		}
		if out.profile.Peer != c.Member() {
			return nil, fmt.Errorf("profile of %s carried with the chain of %s", out.profile.Peer, c.Member())
		}
		if out.profile.Network != st.network() {
			return nil, fmt.Errorf("profile: %w", identity.ErrWrongNetwork)
		}
		if m, ok := n.member(c.Member()); ok && m.Profile != nil && !out.profile.Updated.After(m.Profile.Updated) &&
			!bytes.Equal(out.profile.Bytes, m.Profile.Bytes) {
			// The profile held here is forwarded, not taken for stale: a
			// newcomer's announcement of itself reaches first the member
			// that let it in, which holds its profile from the hello, and
			// is news to everyone behind that member.
			return nil, errStaleProfile
		}
	}
	return out, nil
}

// applyEntry records a verified entry and tells the owner.
func (n *Node) applyEntry(e *checkedEntry) {
	switch {
	case e.revocation != nil:
		if _, err := n.applyRevocation(e.revocation); err != nil {
			n.log.Debug("revocation not applied", "err", err)
		}
		n.rememberMember(e.chain)
	case e.profile != nil:
		if n.acceptProfile(e.profile, e.chain) {
			m, _ := n.Member(e.chain.Member())
			n.cfg.Events.MemberSeen(m, nil)
		}
	default:
		_, known := n.member(e.chain.Member())
		m := n.rememberMember(e.chain)
		if !known {
			n.cfg.Events.MemberSeen(m, nil)
		}
	}
}

// validate is the gossipsub validator of the membership topic. The author
// of every message must be a valid member who signed it (pubsub's strict
// signing checks the signature), the entry must verify, and the peer that
// forwarded it must have proven membership. Rejected messages lower the
// forwarder's peer score.
func (n *Node) validate(st *netState) pubsub.ValidatorEx {
	return func(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		if from == n.ID() {
			// Our own publication, already applied here: what is stale for
			// us is news for the others.
			return pubsub.ValidationAccept
		}
		if !n.isVerified(from) {
			// Dropped without a score penalty: hello may simply not have
			// finished yet, and a peer that never finishes it is cut off.
			return pubsub.ValidationIgnore
		}
		raw, err := decodeEntry(msg.Data)
		if err != nil {
			return pubsub.ValidationReject
		}
		e, err := n.checkEntry(st, raw)
		if errors.Is(err, errStaleProfile) {
			return pubsub.ValidationIgnore
		}
		if err != nil {
			n.log.Debug("membership message rejected", "from", from, "author", msg.GetFrom(), "err", err)
			return pubsub.ValidationReject
		}
		if e.chain.Member() != msg.GetFrom() {
			return pubsub.ValidationReject
		}
		if (e.profile != nil || e.revocation != nil) && !st.limits.allow(msg.GetFrom(), e.revocation != nil, n.cfg.Now()) {
			n.log.Debug("membership message over its author's rate", "author", msg.GetFrom())
			return pubsub.ValidationIgnore
		}
		msg.ValidatorData = e
		return pubsub.ValidationAccept
	}
}

// readGossip applies every accepted membership message until ctx ends.
func (n *Node) readGossip(ctx context.Context, sub *pubsub.Subscription) {
	defer sub.Cancel()
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if msg.ReceivedFrom == n.ID() {
			continue // applied when published
		}
		if e, ok := msg.ValidatorData.(*checkedEntry); ok {
			n.applyEntry(e)
		}
	}
}

func (n *Node) publish(ctx context.Context, st *netState, e memberEntry) error {
	e.V = 1
	e.Chain = st.ownWire
	data, err := wire.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := st.topic.Publish(ctx, data); err != nil {
		return fmt.Errorf("publish on %s: %w", st.topic.String(), err)
	}
	return nil
}

// PublishProfile makes p this node's profile and tells the network.
func (n *Node) PublishProfile(ctx context.Context, p *identity.SignedProfile) error {
	st, err := n.state()
	if err != nil {
		return err
	}
	if p.Peer != n.ID() || p.Network != st.network() {
		return errors.New("publish profile: not this node's profile in this network")
	}
	n.acceptProfile(p, st.chain)
	return n.publish(ctx, st, memberEntry{Profile: p.Bytes})
}

// PublishRevocation applies r here (disconnecting whoever it cuts) and
// spreads it.
func (n *Node) PublishRevocation(ctx context.Context, r *identity.SignedRevocation) error {
	st, err := n.state()
	if err != nil {
		return err
	}
	if _, err := n.applyRevocation(r); err != nil {
		return err
	}
	return n.publish(ctx, st, memberEntry{Revocation: r.Bytes})
}

// gossipParams are gossipsub's defaults with less gossip. Each message's
// ID was advertised (IHAVE) in three heartbeats to six or more peers
// outside the mesh: for the hallway's announcements, every five seconds
// per live room, that was three quarters of the RPCs a member of a
// silent room sent, and a fifth of its wakes (BENCHMARKS.md, "a cheaper
// node"). clubnode's messages are few and flood-published to every
// connected member, and the mesh carries them on; gossip only repairs a
// miss. Advertising each once, to two peers, still does.
func gossipParams() pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	p.HistoryGossip = 1
	p.Dlazy = 2
	p.GossipFactor = 0
	return p
}
