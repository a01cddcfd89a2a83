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

// A sync skips only what a node holds byte for byte: a held chain with a
// new profile, any revocation, or a chain that differs is checked.
func TestHeldSetHolds(t *testing.T) {
	h := heldSet{"chain-a": []byte("profile-a"), "chain-b": nil}
	cases := []struct {
		name string
		held heldSet
		e    memberEntry
		want bool
	}{
		{"held chain, held profile", h, memberEntry{V: 1, Chain: []byte("chain-a"), Profile: []byte("profile-a")}, true},
		{"held chain, no profile", h, memberEntry{V: 1, Chain: []byte("chain-a")}, true},
		{"held chain, new profile", h, memberEntry{V: 1, Chain: []byte("chain-a"), Profile: []byte("profile-a2")}, false},
		{"held chain without a profile, a profile now", h, memberEntry{V: 1, Chain: []byte("chain-b"), Profile: []byte("p")}, false},
		{"revocation", h, memberEntry{V: 1, Chain: []byte("chain-a"), Revocation: []byte("r")}, false},
		{"another chain", h, memberEntry{V: 1, Chain: []byte("chain-a'")}, false},
		{"not a member yet", nil, memberEntry{V: 1, Chain: []byte("chain-a")}, false},
	}
	for _, tc := range cases {
		if got := tc.held.holds(tc.e); got != tc.want {
			t.Errorf("%s: holds = %v, want %v", tc.name, got, tc.want)
		}
	}
}
