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
}

type redeemReply struct {
	Chain []byte `cbor:"0,keyasint"`
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
	st, err := n.state()
	if err != nil {
		return nil, err
	}
	inv, err := identity.ParseInvite(token)
	if err != nil {
		return nil, err
	}
	if inv.Inviter() != n.ID() {
		return nil, fmt.Errorf("invite token: signed by %s, not by this node", inv.Inviter())
	}
	if inv.Network() != st.network() {
		return nil, fmt.Errorf("invite token: %w: it is for %s, this node is in %s", identity.ErrWrongNetwork, inv.Network(), st.network())
	}
	if !inv.Bearer() {
		return nil, fmt.Errorf("invite token: bound to %s: it is a certificate and needs no redemption", inv.For)
	}
	if err := inv.CheckTime(n.cfg.Now()); err != nil {
		return nil, err
	}
	if st.revoked != nil {
		return nil, errors.New("this node's membership was revoked; its invites are void")
	}
	if !n.allowed(p) {
		return nil, fmt.Errorf("%s is revoked in this network", p)
	}
	// The chain must be current: the node's chain could have been replaced.
	if inv.InviterChain.Verify(st.network(), n.ID(), st.revs, n.cfg.Now()) != nil {
		return nil, errors.New("invite token: the inviter's chain is no longer valid")
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
	var addrs []ma.Multiaddr
	for _, s := range inv.Bootstrap {
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
