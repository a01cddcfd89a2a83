package p2p

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/identity"
)

func shortInvite(t *testing.T, inviter *Node, uses int) *identity.SignedInvite {
	t.Helper()
	var boot []string
	for _, a := range inviter.Addrs() {
		boot = append(boot, a.String())
	}
	inv, err := identity.NewShortInvite(inviter.cfg.Key, inviter.Chain().Network(), identity.InviteOptions{
		Uses: uses, Expires: time.Now().Add(time.Hour), Bootstrap: boot}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestShortInvitePreviewThenRedeem: an invitee asks the inviter's node
// what a short token is (network, inviter, uses left) without using it,
// then joins with it; the preview after that says no uses are left.
func TestShortInvitePreviewThenRedeem(t *testing.T) {
	a, b, c := newNode(t), newNode(t), newNode(t)
	found(t, a, "Night Owls")
	prof, err := identity.SignProfile(a.cfg.Key, identity.Profile{Network: a.Chain().Network(), Peer: a.ID(), Name: "Ada", Updated: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PublishProfile(context.Background(), prof); err != nil {
		t.Fatal(err)
	}
	inv := shortInvite(t, a, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 2 { // looking twice uses nothing
		pv, err := b.PreviewInvite(ctx, inv)
		if err != nil {
			t.Fatalf("preview: %v", err)
		}
		if pv.Chain.Charter.Name != "Night Owls" || pv.UsesLeft != 1 || pv.Profile == nil || pv.Profile.Name != "Ada" {
			t.Fatalf("preview: network %q, uses left %d, profile %+v", pv.Chain.Charter.Name, pv.UsesLeft, pv.Profile)
		}
	}
	join(t, b, inv)
	pv, err := c.PreviewInvite(ctx, inv)
	if err != nil || pv.UsesLeft != 0 {
		t.Fatalf("preview after the one use: %+v, %v", pv, err)
	}
	if _, err := c.Redeem(ctx, inv); err == nil || !strings.Contains(err.Error(), "already used 1 of 1") {
		t.Fatalf("second redemption: %v", err)
	}
}
