package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/internal/rpc"
)

// helloMsg is what each side of a new connection says: its network and the
// chain that proves its membership. A reply may instead refuse (saying
// why, and with the revocation when the refused peer was revoked, so that
// it learns it); a request that refuses is a goodbye: the sender is
// cutting this node off.
type helloMsg struct {
	Network    string `cbor:"0,keyasint,omitempty"`
	Chain      []byte `cbor:"1,keyasint,omitempty"`
	Refused    string `cbor:"2,keyasint,omitempty"`
	Revocation []byte `cbor:"3,keyasint,omitempty"`
	// Boot is random for each start of a node: a peer whose Boot changed
	// has restarted, and its connections from before are dead.
	Boot []byte `cbor:"4,keyasint,omitempty"`
}

const helloStreamTimeout = 10 * time.Second

// helloProto runs before anything else, on any connection, relayed or not:
// it is what decides whether the rest of the network is open to a peer.
var helloProto = rpc.Protocol[helloMsg, helloMsg]{ID: HelloProtocol, MaxRequest: maxHelloFrame,
	MaxReply: maxHelloFrame, Timeout: helloStreamTimeout, Codes: Codes, Limited: true}

// ErrRefused is returned when a peer refused this node's hello.
var ErrRefused = errors.New("refused by peer")

// onConnected starts the membership gate for a new connection: the dialing
// side says hello; the accepting side waits for it, gives a peer that is
// not a known member a place in the unproven budget (admission.go), and
// disconnects a peer that has not proved membership within HelloTimeout.
func (n *Node) onConnected(c network.Conn) {
	p := c.RemotePeer()
	if _, err := n.state(); err != nil {
		// Not a member: this node only dials out to redeem an invite, and
		// has nothing to offer peers that dial in, except the inviter
		// punching a hole to it (DCUtR dials both ways).
		n.mu.Lock()
		inviter := n.redeemingAt == p
		n.mu.Unlock()
		if c.Stat().Direction == network.DirInbound && !inviter {
			n.goFn(func(context.Context) { _ = n.host.Network().ClosePeer(p) })
		}
		return
	}
	if c.Stat().Direction == network.DirOutbound {
		n.goFn(func(ctx context.Context) {
			if err := n.sayHello(ctx, p); err != nil && ctx.Err() == nil {
				n.log.Debug("hello failed", "peer", p, "err", err)
			}
		})
		return
	}
	if n.isVerified(p) {
		return
	}
	if _, known := n.member(p); !known {
		if n.backoff.keyRefused(p, n.cfg.Now()) {
			// A connection that raced the one whose failure backed
			// this key off (a second transport, dialled at once).
			n.goFn(func(context.Context) { _ = n.host.Network().ClosePeer(p) })
			return
		}
		n.mu.Lock()
		n.unproven.add(p, n.cfg.Now())
		evict := n.unproven.overflow(n.cfg.UnprovenBudget)
		if evict != "" {
			n.unproven.remove(evict)
		}
		n.mu.Unlock()
		if evict != "" {
			n.log.Debug("unproven budget full: dropping the oldest unproven peer", "peer", evict)
			n.goFn(func(context.Context) { _ = n.host.Network().ClosePeer(evict) })
		}
	}
	remote := c.RemoteMultiaddr()
	n.goFn(func(ctx context.Context) {
		if !group.Sleep(ctx, n.cfg.HelloTimeout) {
			return
		}
		n.mu.Lock()
		_, verified := n.verified[p]
		redeeming := n.unproven.redeeming[p]
		n.mu.Unlock()
		if verified || redeeming || n.host.Network().Connectedness(p) != network.Connected {
			return
		}
		n.log.Debug("disconnecting peer that did not prove membership", "peer", p)
		n.failed(p, remote)
		_ = n.host.Network().ClosePeer(p)
	})
}

// failed backs off a peer that did not prove membership, unless it is a
// member this node knows (a slow member is not an intruder).
func (n *Node) failed(p peer.ID, addr ma.Multiaddr) {
	n.mu.Lock()
	n.unproven.remove(p)
	n.mu.Unlock()
	if _, known := n.member(p); !known {
		n.backoff.fail(p, addr, n.cfg.Now())
	}
}

// remoteAddr is the address p is connected from, or nil.
func (n *Node) remoteAddr(p peer.ID) ma.Multiaddr {
	if conns := n.host.Network().ConnsToPeer(p); len(conns) > 0 {
		return conns[0].RemoteMultiaddr()
	}
	return nil
}

func (n *Node) onDisconnected(p peer.ID) {
	if n.host.Network().Connectedness(p) == network.Connected {
		return // another connection to p remains
	}
	n.mu.Lock()
	_, was := n.verified[p]
	delete(n.verified, p)
	n.unproven.remove(p)
	n.mu.Unlock()
	if was {
		n.announceGone(p)
	}
}

// sayHello proves this node's membership to p and checks p's. On any
// failure the connection is closed.
func (n *Node) sayHello(ctx context.Context, p peer.ID) error {
	st, err := n.state()
	if err != nil {
		return err
	}
	n.mu.Lock()
	if n.helloing[p] != nil || n.verified[p] != nil {
		n.mu.Unlock()
		return nil
	}
	done := make(chan struct{})
	n.helloing[p] = done
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.helloing, p)
		n.mu.Unlock()
		close(done)
	}()

	err = n.exchangeHello(ctx, st, p)
	if err != nil {
		_ = n.host.Network().ClosePeer(p)
		return fmtPeerErr(p, err)
	}
	return nil
}

func (n *Node) exchangeHello(ctx context.Context, st *netState, p peer.ID) error {
	reply, err := helloProto.Call(ctx, n.host, p, helloMsg{Network: string(st.network()), Chain: st.ownWire, Boot: n.boot[:]})
	if err != nil {
		return err
	}
	if reply.Refused != "" {
		n.learnRevocation(reply.Revocation)
		return fmt.Errorf("%w: %s", ErrRefused, rpc.Clean(reply.Refused))
	}
	if reply.Network != string(st.network()) {
		return fmt.Errorf("%w: peer is in network %s", identity.ErrWrongNetwork, reply.Network)
	}
	chain, err := n.verifyChain(st, reply.Chain, p)
	if err != nil {
		return err
	}
	n.noteBoot(p, reply.Boot, nil)
	n.markVerified(p, chain)
	return nil
}

// answerHello is the accepting side of the gate.
func (n *Node) answerHello(ctx context.Context, p peer.ID, msg helloMsg) (helloMsg, error) {
	if msg.Refused != "" {
		// A goodbye: the peer is cutting this node off and says why.
		n.log.Warn("peer disconnected this node", "peer", p, "reason", rpc.Clean(msg.Refused))
		n.learnRevocation(msg.Revocation)
		return helloMsg{}, nil
	}
	st, err := n.state()
	if err != nil {
		return n.refuse(p, err.Error(), nil), nil
	}
	if msg.Network != string(st.network()) {
		// Which network this node is in is for members to know.
		n.failed(p, n.remoteAddr(p))
		return n.refuse(p, "not a member of this node's network", nil), nil
	}
	chain, err := n.verifyChain(st, msg.Chain, p)
	if err != nil {
		var revBytes []byte
		if errors.Is(err, identity.ErrRevoked) {
			revBytes = n.revocationFor(st, msg.Chain)
		}
		n.failed(p, n.remoteAddr(p))
		return n.refuse(p, "membership not proven: "+err.Error(), revBytes), nil
	}
	n.noteBoot(p, msg.Boot, rpc.Conn(ctx))
	// Verified before replying: the peer syncs as soon as it has the reply.
	n.markVerified(p, chain)
	return helloMsg{Network: string(st.network()), Chain: st.ownWire, Boot: n.boot[:]}, nil
}

// refuse answers p's hello with the reason and disconnects it shortly
// after, once the answer had time to arrive.
func (n *Node) refuse(p peer.ID, reason string, revocation []byte) helloMsg {
	n.log.Debug("refusing peer", "peer", p, "reason", reason)
	n.goFn(func(ctx context.Context) {
		group.Sleep(ctx, 200*time.Millisecond)
		_ = n.host.Network().ClosePeer(p)
	})
	return helloMsg{Refused: reason, Revocation: revocation}
}

// sayGoodbye tells a connected peer why it is being cut off (sending the
// revocation, so it learns it was revoked), then disconnects it.
func (n *Node) sayGoodbye(ctx context.Context, p peer.ID, reason string, revocation []byte) {
	defer func() { _ = n.host.Network().ClosePeer(p) }()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// The answer comes once the peer has read the goodbye, so the
	// connection is not closed under it.
	_, _ = helloProto.Call(ctx, n.host, p, helloMsg{Refused: reason, Revocation: revocation})
}

// revocationFor finds the revocation that invalidates a chain, to send it
// to the revoked peer.
func (n *Node) revocationFor(st *netState, chainBytes []byte) []byte {
	c, err := identity.ParseChain(chainBytes)
	if err != nil {
		return nil
	}
	members := c.Members()
	for i := len(members) - 1; i >= 0; i-- {
		if r, ok := st.revs.Get(members[i]); ok {
			return r.Bytes
		}
	}
	return nil
}

// learnRevocation accepts a revocation sent with a refusal, if it is valid.
func (n *Node) learnRevocation(data []byte) {
	if len(data) == 0 {
		return
	}
	r, err := identity.ParseRevocation(data)
	if err != nil {
		return
	}
	_, _ = n.applyRevocation(r)
}

// noteBoot records the start a member said hello from. A member whose
// start changed has restarted: its connections from before are dead on its
// side, though not yet on this one (a QUIC connection lingers until its
// idle timeout), and gossip would go on writing into them. They are closed
// (all but current, the one this hello came on, if known); pubsub and the
// DHT carry on over the new one.
func (n *Node) noteBoot(p peer.ID, boot []byte, current network.Conn) {
	if len(boot) == 0 || len(boot) > 32 {
		return
	}
	n.mu.Lock()
	old, known := n.boots[p]
	n.boots[p] = string(boot)
	n.mu.Unlock()
	if !known || old == string(boot) {
		return
	}
	conns := n.host.Network().ConnsToPeer(p)
	if current == nil {
		// On the dialing side: the connection hello just went over is
		// the newest one.
		for _, c := range conns {
			if current == nil || c.Stat().Opened.After(current.Stat().Opened) {
				current = c
			}
		}
	}
	n.log.Debug("member restarted: closing its old connections", "peer", p)
	for _, c := range conns {
		if c != current && c.Stat().Opened.Before(current.Stat().Opened) {
			_ = c.Close()
		}
	}
}

func (n *Node) markVerified(p peer.ID, chain *identity.Chain) {
	n.mu.Lock()
	_, already := n.verified[p]
	n.verified[p] = chain
	n.unproven.remove(p)
	n.mu.Unlock()
	m := n.rememberMember(chain)
	if already {
		return
	}
	n.backoff.forgive(p)
	n.announceMember(p)
	n.log.Info("member verified", "peer", p, "invited_by", chain.InvitedBy())
	n.host.ConnManager().TagPeer(p, "clubnode-member", 50)
	n.cfg.Events.MemberSeen(m, n.host.Peerstore().Addrs(p))
	n.goFn(func(ctx context.Context) {
		if err := n.syncFrom(ctx, p); err != nil && ctx.Err() == nil {
			n.log.Debug("members sync failed", "peer", p, "err", err)
		}
		n.redialTooEarly(ctx, p)
	})
}
