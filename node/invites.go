package node

import (
	"context"
	"fmt"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	goqr "github.com/piglig/go-qr"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/node/apiv1"
)

// newInvite signs an invite: a bearer invite in the short form (about 210
// characters: the inviter's node holds the chain it would carry), a bound
// one in the long form, which carries the certificate so that it needs
// nobody online.
func (n *Node) newInvite(chain *identity.Chain, opts identity.InviteOptions, now time.Time) (*identity.SignedInvite, error) {
	if opts.For == "" {
		opts.Bootstrap = reachable(opts.Bootstrap)
		return identity.NewShortInvite(n.key, chain.Network(), opts, now)
	}
	return identity.NewInvite(n.key, chain, opts, now)
}

// reachable keeps the addresses an invitee elsewhere can dial: loopback
// and link-local ones only when there are no others (an invitee on the
// same computer), which keeps a short token short.
func reachable(addrs []string) []string {
	var wide, local []string
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if manet.IsIPLoopback(a) || manet.IsIP6LinkLocal(a) {
			local = append(local, s)
		} else {
			wide = append(wide, s)
		}
	}
	if len(wide) > 0 {
		return wide
	}
	return local
}

// previewTimeout bounds asking the inviter's node about an invite.
const previewTimeout = 20 * time.Second

// InspectInvite says what an invite is (who invites to which network,
// until when, how many uses are left) without joining. What only the
// inviter's node knows is asked there; if it cannot be reached, the
// answer says so and carries what the token itself tells.
func (n *Node) InspectInvite(ctx context.Context, req apiv1.InspectInviteRequest) (apiv1.InvitePreview, error) {
	inv, err := identity.ParseInviteText(req.Token)
	if err != nil {
		return apiv1.InvitePreview{}, invalid("%w", err)
	}
	now := n.cfg.Now()
	out := apiv1.InvitePreview{Token: inv.Text(), InviterID: inv.Inviter().String(), Expires: inv.Expires,
		Expired: inv.CheckTime(now) != nil, Uses: inv.Uses, UsesLeft: -1,
		Network: apiv1.Network{ID: string(inv.Network())}}
	if !inv.Short() {
		out.Network = *n.networkInfo(inv.InviterChain)
	}
	if m, ok := n.p2p.Member(inv.Inviter()); ok && m.Profile != nil {
		out.InviterName = m.Profile.Name
	}
	if !inv.Bearer() {
		out.For = inv.For.String()
		out.ForYou = inv.For == n.ID()
		out.Online = true // a bound invite needs nobody: it tells all
		return out, nil
	}
	if out.Expired || inv.Inviter() == n.ID() {
		out.Unreachable = "not asked: the invite has expired or is this node's own"
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, previewTimeout)
	defer cancel()
	pv, err := n.p2p.PreviewInvite(ctx, inv)
	if err != nil {
		out.Unreachable = err.Error()
		return out, nil
	}
	out.Online = true
	out.Network = *n.networkInfo(pv.Chain)
	out.UsesLeft = pv.UsesLeft
	if pv.Profile != nil && pv.Profile.Name != "" {
		out.InviterName = pv.Profile.Name
	}
	return out, nil
}

// InviteQR draws an invite's QR code. It encodes the token's text form,
// which names no host and no port: scanned on a phone or a laptop it
// pastes into whatever clubnode app or command the invitee runs, where
// a 127.0.0.1 link would open nothing on the device that scanned it.
func (n *Node) InviteQR(_ context.Context, req apiv1.InspectInviteRequest) (apiv1.InviteQR, error) {
	inv, err := identity.ParseInviteText(req.Token)
	if err != nil {
		return apiv1.InviteQR{}, invalid("%w", err)
	}
	return drawQR(inv.Text())
}

func drawQR(text string) (apiv1.InviteQR, error) {
	ecc := goqr.Medium
	if len(text) > 1200 {
		ecc = goqr.Low
	}
	code, err := goqr.EncodeText(text, ecc)
	if err != nil {
		return apiv1.InviteQR{}, invalid("QR code: %w", err)
	}
	svg, err := code.ToSVGBytes(goqr.NewQrCodeImgConfig(4, 4, goqr.WithOptimalSVG()))
	if err != nil {
		return apiv1.InviteQR{}, fmt.Errorf("QR code: %w", err)
	}
	return apiv1.InviteQR{Text: text, SVG: string(svg)}, nil
}
