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

type redeemRequest struct {
	Token []byte `cbor:"0,keyasint"`
	// Preview asks what the invite is (the inviter's chain and profile,
	// the uses left) without redeeming it.
	Preview bool `cbor:"1,keyasint,omitempty"`
}

type redeemReply struct {
	Chain []byte `cbor:"0,keyasint"`
	// A preview's answer: the inviter's signed profile (if it has one)
	// and how many more nodes may join with the invite.
	Profile  []byte `cbor:"1,keyasint,omitempty"`
	UsesLeft int    `cbor:"2,keyasint,omitempty"`
}

// redeemProto is served to peers that are not members yet: the invitee is
// one until the inviter answers.
var redeemProto = rpc.Protocol[redeemRequest, redeemReply]{ID: RedeemProtocol, MaxRequest: maxRedeemFrame,
	MaxReply: maxRedeemFrame, Timeout: helloStreamTimeout, Codes: Codes, Limited: true}

// answerRedeem is the inviter's side of a bearer invite: it checks the
// token, counts a use in the ledger and issues the redeemer's certificate.
// The redeemer's peer ID is the one its connection authenticated.
//
// While it runs the redeemer is not evicted from the unproven budget; once
// it succeeded, the new member has one more HelloTimeout to say hello.
func (n *Node) answerRedeem(_ context.Context, p peer.ID, req redeemRequest) (redeemReply, error) {
	n.setRedeeming(p, true)
	if req.Preview {
		reply, err := n.preview(req.Token, p)
		n.setRedeeming(p, false)
		if err != nil {
			n.failed(p, n.remoteAddr(p))
		}
		return reply, err
	}
	chain, err := n.redeem(req.Token, p)
	if err != nil {
		n.setRedeeming(p, false)
		n.failed(p, n.remoteAddr(p))
		n.log.Debug("invite redemption refused", "peer", p, "err", err)
		return redeemReply{}, err
	}
	n.log.Info("invite redeemed", "peer", p)
	n.goFn(func(ctx context.Context) {
		if !group.Sleep(ctx, n.cfg.HelloTimeout) {
			return
		}
		n.setRedeeming(p, false)
		if !n.isVerified(p) {
			_ = n.host.Network().ClosePeer(p)
		}
	})
	return redeemReply{Chain: chain.Marshal()}, nil
}

// setRedeeming marks an unproven peer as busy redeeming an invite.
func (n *Node) setRedeeming(p peer.ID, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, waiting := n.unproven.since[p]; !waiting {
		return
	}
	if on {
		n.unproven.redeeming[p] = true
	} else {
		delete(n.unproven.redeeming, p)
	}
}

func (n *Node) redeem(token []byte, p peer.ID) (*identity.Chain, error) {
	st, inv, err := n.checkOwnInvite(token, p)
	if err != nil {
		return nil, err
	}
	if err := n.cfg.Ledger.UseInvite(inv, p); err != nil {
		return nil, err
	}
	cert, err := identity.IssueCert(n.cfg.Key, st.chain, p, n.cfg.Now())
	if err != nil {
		return nil, err
	}
	return st.chain.Extend(cert)
}

// preview answers what an invite of this node's is, for an invitee that
// has not joined yet: nothing is counted.
func (n *Node) preview(token []byte, p peer.ID) (redeemReply, error) {
	st, inv, err := n.checkOwnInvite(token, p)
	if err != nil {
		return redeemReply{}, err
	}
	left, err := n.cfg.Ledger.InviteUsesLeft(inv, p)
	if err != nil {
		return redeemReply{}, err
	}
	reply := redeemReply{Chain: st.ownWire, UsesLeft: left}
	if m, ok := n.member(n.ID()); ok && m.Profile != nil {
		reply.Profile = m.Profile.Bytes
	}
	return reply, nil
}

// checkOwnInvite checks that token is a live bearer invite this node
// signed into its network, that p may use.
func (n *Node) checkOwnInvite(token []byte, p peer.ID) (*netState, *identity.SignedInvite, error) {
	st, err := n.state()
	if err != nil {
		return nil, nil, err
	}
	inv, err := identity.ParseInviteBytes(token)
	if err != nil {
		return nil, nil, err
	}
	if inv.Inviter() != n.ID() {
		return nil, nil, fmt.Errorf("invite token: signed by %s, not by this node", inv.Inviter())
	}
	if inv.Network() != st.network() {
		return nil, nil, fmt.Errorf("invite token: %w: it is for %s, this node is in %s", identity.ErrWrongNetwork, inv.Network(), st.network())
	}
	if !inv.Bearer() {
		return nil, nil, fmt.Errorf("invite token: bound to %s: it is a certificate and needs no redemption", inv.For)
	}
	if err := inv.CheckTime(n.cfg.Now()); err != nil {
		return nil, nil, err
	}
	if st.revoked != nil {
		return nil, nil, errors.New("this node's membership was revoked; its invites are void")
	}
	if !n.allowed(p) {
		return nil, nil, fmt.Errorf("%s is revoked in this network", p)
	}
	// The chain must be current: the node's chain could have been replaced.
	// A short invite carries none: the node's own is the current one.
	if !inv.Short() && inv.InviterChain.Verify(st.network(), n.ID(), st.revs, n.cfg.Now()) != nil {
		return nil, nil, errors.New("invite token: the inviter's chain is no longer valid")
	}
	return st, inv, nil
}

// InviterAddrs extracts the inviter's addresses from an invite's bootstrap
// list.
func InviterAddrs(inv *identity.SignedInvite) (peer.AddrInfo, error) {
	info := peer.AddrInfo{ID: inv.Inviter()}
	for _, s := range inv.Bootstrap {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil || ai.ID != inv.Inviter() {
			continue
		}
		info.Addrs = append(info.Addrs, ai.Addrs...)
	}
	if len(info.Addrs) == 0 {
		return info, fmt.Errorf("invite token: no address of the inviter %s among its bootstrap addresses", inv.Inviter())
	}
	return info, nil
}

// BootstrapAddrs extracts every peer address from an invite's bootstrap list.
func BootstrapAddrs(inv *identity.SignedInvite) []peer.AddrInfo {
	return AddrInfos(inv.Bootstrap)
}

// AddrInfos parses /p2p/ multiaddrs into one AddrInfo per peer, skipping
// what does not parse.
func AddrInfos(list []string) []peer.AddrInfo {
	var addrs []ma.Multiaddr
	for _, s := range list {
		if a, err := ma.NewMultiaddr(s); err == nil {
			addrs = append(addrs, a)
		}
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return nil
	}
	return infos
}

// Redeem presents a bearer invite at the inviter's node and returns the
// membership chain it issued for this node.
func (n *Node) Redeem(ctx context.Context, inv *identity.SignedInvite) (*identity.Chain, error) {
	if !inv.Bearer() {
		return nil, errors.New("invite token: bound invites are not redeemed online")
	}
	info, err := InviterAddrs(inv)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n.mu.Lock()
	n.redeemingAt = info.ID
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.redeemingAt = ""
		n.mu.Unlock()
	}()
	// An inviter behind NAT is reached through its relay addresses: the
	// redeem exchange is small and allowed over the limited connection.
	if err := n.host.Connect(network.WithAllowLimitedConn(ctx, "redeem"), info); err != nil {
		return nil, fmt.Errorf("connect to the inviter %s: %w: %w", info.ID, rpc.ErrUnreachable, err)
	}
	resp, err := redeemProto.Call(ctx, n.host, info.ID, redeemRequest{Token: inv.Bytes})
	if err != nil {
		return nil, fmt.Errorf("the inviter %s: %w", info.ID, err)
	}
	chain, err := identity.ParseChain(resp.Chain)
	if err != nil {
		return nil, fmt.Errorf("the inviter's reply: %w", err)
	}
	if err := chain.Verify(inv.Network(), n.ID(), nil, n.cfg.Now()); err != nil {
		return nil, fmt.Errorf("the inviter's reply: %w", err)
	}
	if chain.InvitedBy() != inv.Inviter() {
		return nil, fmt.Errorf("the inviter's reply: certificate issued by %s, not %s", chain.InvitedBy(), inv.Inviter())
	}
	return chain, nil
}

// InvitePreview is what the inviter's node says about one of its invites
// before anyone joins with it.
type InvitePreview struct {
	Chain    *identity.Chain         // the inviter's membership chain
	Profile  *identity.SignedProfile // nil if the inviter has none yet
	UsesLeft int
}

// PreviewInvite asks the inviter's node what a bearer invite is, without
// using it: its chain (the network's name and founder), the inviter's
// profile and the uses left. Everything in the answer is checked against
// the token: the chain must make the token's signer a member of the
// token's network.
func (n *Node) PreviewInvite(ctx context.Context, inv *identity.SignedInvite) (InvitePreview, error) {
	if !inv.Bearer() {
		return InvitePreview{}, errors.New("invite token: bound invites are not shown online")
	}
	info, err := InviterAddrs(inv)
	if err != nil {
		return InvitePreview{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.host.Connect(ctx, info); err != nil {
		return InvitePreview{}, fmt.Errorf("connect to the inviter %s: %w: %w", info.ID, rpc.ErrUnreachable, err)
	}
	resp, err := redeemProto.Call(ctx, n.host, info.ID, redeemRequest{Token: inv.Bytes, Preview: true})
	if err != nil {
		return InvitePreview{}, fmt.Errorf("the inviter %s: %w", info.ID, err)
	}
	chain, err := identity.ParseChain(resp.Chain)
	if err != nil {
		return InvitePreview{}, fmt.Errorf("the inviter's reply: %w", err)
	}
	if err := chain.Verify(inv.Network(), inv.Inviter(), nil, n.cfg.Now()); err != nil {
		return InvitePreview{}, fmt.Errorf("the inviter's reply: %w", err)
	}
	out := InvitePreview{Chain: chain, UsesLeft: resp.UsesLeft}
	if len(resp.Profile) > 0 {
		prof, err := identity.ParseProfile(resp.Profile)
		if err != nil {
			return InvitePreview{}, fmt.Errorf("the inviter's profile: %w", err)
		}
		if prof.Peer == inv.Inviter() && prof.Network == inv.Network() {
			out.Profile = prof
		}
	}
	return out, nil
}
