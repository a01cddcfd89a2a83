package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
)

// helloMsg is what each side of a new connection says: its network and the
// chain that proves its membership, or why it refuses the other side.
type helloMsg struct {
	V       int    `cbor:"0,keyasint"`
	Network string `cbor:"1,keyasint"`
	Chain   []byte `cbor:"2,keyasint,omitempty"`
	Refused string `cbor:"3,keyasint,omitempty"`
	// Revocation is sent with a refusal when the refused peer is revoked,
	// so that it learns why.
	Revocation []byte `cbor:"4,keyasint,omitempty"`
}

const helloStreamTimeout = 10 * time.Second

// ErrRefused is returned when a peer refused this node's hello.
var ErrRefused = errors.New("refused by peer")

// onConnected starts the membership gate for a new connection: the dialing
// side says hello; the accepting side waits for it and disconnects a peer
// that stays silent.
func (n *Node) onConnected(c network.Conn) {
	p := c.RemotePeer()
	if _, err := n.state(); err != nil {
		// Not a member: this node only dials out to redeem an invite, and
		// has nothing to offer peers that dial in.
		if c.Stat().Direction == network.DirInbound {
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
	n.goFn(func(ctx context.Context) {
		t := time.NewTimer(n.cfg.HelloTimeout)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !n.isVerified(p) && n.host.Network().Connectedness(p) == network.Connected {
			n.log.Info("disconnecting peer that did not prove membership", "peer", p)
			_ = n.host.Network().ClosePeer(p)
		}
	})
}

func (n *Node) onDisconnected(p peer.ID) {
	if n.host.Network().Connectedness(p) == network.Connected {
		return // another connection to p remains
	}
	n.mu.Lock()
	delete(n.verified, p)
	n.mu.Unlock()
}

// sayHello proves this node's membership to p and checks p's. On any
// failure the connection is closed.
func (n *Node) sayHello(ctx context.Context, p peer.ID) error {
	st, err := n.state()
	if err != nil {
		return err
	}
	n.mu.Lock()
	if n.helloing[p] || n.verified[p] != nil {
		n.mu.Unlock()
		return nil
	}
	n.helloing[p] = true
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.helloing, p)
		n.mu.Unlock()
	}()

	err = n.exchangeHello(ctx, st, p)
	if err != nil {
		_ = n.host.Network().ClosePeer(p)
		return fmtPeerErr(p, err)
	}
	return nil
}

func (n *Node) exchangeHello(ctx context.Context, st *netState, p peer.ID) error {
	ctx, cancel := context.WithTimeout(ctx, helloStreamTimeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "hello"), p, HelloProtocol)
	if err != nil {
		return fmt.Errorf("open hello stream: %w", err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(helloStreamTimeout))
	if err := wire.WriteFrame(s, helloMsg{V: 1, Network: string(st.network()), Chain: st.chain.Marshal()}); err != nil {
		s.Reset()
		return err
	}
	var reply helloMsg
	if err := wire.NewReader(s, maxHelloFrame).ReadFrame(&reply); err != nil {
		s.Reset()
		return fmt.Errorf("read hello reply: %w", err)
	}
	if reply.Refused != "" {
		n.learnRevocation(reply.Revocation)
		return fmt.Errorf("%w: %s", ErrRefused, reply.Refused)
	}
	if reply.Network != string(st.network()) {
		return fmt.Errorf("%w: peer is in network %s", identity.ErrWrongNetwork, reply.Network)
	}
	chain, err := n.verifyChain(st, reply.Chain, p)
	if err != nil {
		return err
	}
	n.markVerified(p, chain)
	return nil
}

// handleHello is the accepting side of the gate.
func (n *Node) handleHello(s network.Stream) {
	defer s.Close()
	p := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(helloStreamTimeout))
	var msg helloMsg
	if err := wire.NewReader(s, maxHelloFrame).ReadFrame(&msg); err != nil {
		s.Reset()
		_ = n.host.Network().ClosePeer(p)
		return
	}
	if msg.Refused != "" {
		// A goodbye: the peer is cutting this node off and says why.
		n.log.Warn("peer disconnected this node", "peer", p, "reason", msg.Refused)
		n.learnRevocation(msg.Revocation)
		return
	}
	st, err := n.state()
	if err != nil {
		n.refuse(s, p, err.Error(), nil)
		return
	}
	if msg.Network != string(st.network()) {
		n.refuse(s, p, fmt.Sprintf("this node is in network %s, not %s", st.network(), msg.Network), nil)
		return
	}
	chain, err := n.verifyChain(st, msg.Chain, p)
	if err != nil {
		var revBytes []byte
		if errors.Is(err, identity.ErrRevoked) {
			revBytes = n.revocationFor(st, msg.Chain)
		}
		n.refuse(s, p, "membership not proven: "+err.Error(), revBytes)
		return
	}
	// Verified before replying: the peer syncs as soon as it has the reply.
	n.markVerified(p, chain)
	if err := wire.WriteFrame(s, helloMsg{V: 1, Network: string(st.network()), Chain: st.chain.Marshal()}); err != nil {
		s.Reset()
		_ = n.host.Network().ClosePeer(p)
	}
}

// refuse tells p why, then disconnects it.
func (n *Node) refuse(s network.Stream, p peer.ID, reason string, revocation []byte) {
	n.log.Info("refusing peer", "peer", p, "reason", reason)
	_ = wire.WriteFrame(s, helloMsg{V: 1, Refused: reason, Revocation: revocation})
	_ = s.CloseWrite()
	// Give the refusal a moment to arrive before the connection goes.
	n.goFn(func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		_ = n.host.Network().ClosePeer(p)
	})
}

// sayGoodbye tells a connected peer why it is being cut off (sending the
// revocation, so it learns it was revoked), then disconnects it.
func (n *Node) sayGoodbye(ctx context.Context, p peer.ID, reason string, revocation []byte) {
	defer func() { _ = n.host.Network().ClosePeer(p) }()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, HelloProtocol)
	if err != nil {
		return
	}
	_ = s.SetDeadline(time.Now().Add(2 * time.Second))
	if err := wire.WriteFrame(s, helloMsg{V: 1, Refused: reason, Revocation: revocation}); err != nil {
		s.Reset()
		return
	}
	_ = s.CloseWrite()
	// Wait for the peer to close its side, so the frame is not lost with
	// the connection.
	_, _ = s.Read(make([]byte, 1))
	_ = s.Close()
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

func (n *Node) markVerified(p peer.ID, chain *identity.Chain) {
	n.mu.Lock()
	_, already := n.verified[p]
	n.verified[p] = chain
	n.mu.Unlock()
	m := n.rememberMember(chain)
	if already {
		return
	}
	n.log.Info("member verified", "peer", p, "invited_by", chain.InvitedBy())
	n.host.ConnManager().TagPeer(p, "clubnode-member", 50)
	n.cfg.Events.MemberSeen(m, n.host.Peerstore().Addrs(p))
	n.goFn(func(ctx context.Context) {
		if err := n.syncFrom(ctx, p); err != nil && ctx.Err() == nil {
			n.log.Debug("members sync failed", "peer", p, "err", err)
		}
	})
}
