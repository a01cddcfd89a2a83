package p2p

import (
	"errors"
	"testing"
	"time"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/testutil"
)

// A revocation that gossip did not carry to a member still reaches it,
// by the periodic members sync. A applies the revocation of D without
// publishing it, as when it was gossiped before C's subscription had
// reached A, and only after C's hello sync from A is past its
// revocations (C knows D, which only A's sync tells it of: D went
// offline before C joined). Before, that sync was C's only one and C
// trusted D for good.
func TestRevocationGossipMissedArrivesBySync(t *testing.T) {
	a, c, d := newNode(t), newNode(t), newNode(t)
	found(t, a, "Night Owls")
	join(t, d, bearerInvite(t, a, 1))
	testutil.Eventually(t, 15*time.Second, knowsMembers(a, d.ID()))
	m, _ := a.Member(d.ID())
	d.Close()
	join(t, c, bearerInvite(t, a, 1))
	testutil.Eventually(t, 15*time.Second, knowsMembers(c, d.ID()))

	rev, err := identity.Revoke(a.cfg.Key, m.Chain, false, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.applyRevocation(rev); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		if _, ok := c.Revocations().Get(d.ID()); !ok {
			return errors.New("C has not heard of D's revocation")
		}
		return nil
	})
}
