package p2p

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
)

// A stream to a member this node has not heard of yet (a room's host
// whose hallway entry arrived before its chain did) waits for a members
// sync from the peers it knows instead of failing with ErrNotProven.
func TestStreamToAMemberNotKnownYet(t *testing.T) {
	a, b, c := newNode(t), newNode(t), newNode(t)
	found(t, a, "Night Owls")
	join(t, b, bearerInvite(t, a, 1))
	join(t, c, bearerInvite(t, a, 1))
	testutil.Eventually(t, 15*time.Second, knowsMembers(c, b.ID()))

	// C forgets B, as if B's announcement had not reached it, and any
	// vain ask about B while C joined.
	c.mu.Lock()
	delete(c.net.members, b.ID())
	delete(c.verified, b.ID())
	delete(c.askedAbout, b.ID())
	c.mu.Unlock()
	_ = c.host.Network().ClosePeer(b.ID())

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := c.gated.NewStream(ctx, b.ID(), syncProto.ID)
	if errors.Is(err, ErrNotProven) {
		t.Fatalf("stream to a member C had not heard of: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Reset()
	if !c.IsMember(b.ID()) {
		t.Fatal("C opened a stream to B without knowing B as a member")
	}
}

// A peer that is no member is asked about once per learnAgain, not on
// every stream; the ask that found nothing is what counts.
func TestNoMemberAskedAboutOnce(t *testing.T) {
	a, c := newNode(t), newNode(t)
	found(t, a, "Night Owls")
	join(t, c, bearerInvite(t, a, 1))
	stranger := newNode(t)
	if c.askedInVain(stranger.ID()) {
		t.Fatal("a peer never asked about counts as asked")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c.learnMember(ctx, stranger.ID())
	if c.IsMember(stranger.ID()) {
		t.Fatal("a stranger became a member")
	}
	if !c.askedInVain(stranger.ID()) {
		t.Fatal("a vain ask about a stranger is not remembered: every stream to it would cost a sync")
	}
}

// A member connected to every member it knows has nobody to search the
// DHT for: only known members are dialled. It searched every
// DiscoveryInterval anyway (a lookup asking every peer), most of an idle
// small network's traffic. It searches again once it knows a member it
// has not met.
func TestNoSearchWhileEveryMemberIsMet(t *testing.T) {
	a, b, c := threeMembers(t)
	testutil.Eventually(t, 15*time.Second, func() error {
		for _, n := range []*Node{a, b, c} {
			if !n.metEveryMember() {
				return fmt.Errorf("%s has not met every member yet (%d connected)", n.ID(), len(n.VerifiedPeers()))
			}
		}
		return nil
	})
	before := c.searches.Load()
	window := time.NewTimer(3 * c.cfg.DiscoveryInterval)
	<-window.C
	if n := c.searches.Load() - before; n > 0 {
		t.Fatalf("a member connected to every member searched the DHT %d times in %s", n, 3*c.cfg.DiscoveryInterval)
	}

	departedMember(t, a, c)
	before = c.searches.Load()
	testutil.Eventually(t, 5*c.cfg.DiscoveryInterval, func() error {
		if c.searches.Load() == before {
			return errors.New("a member that knows one it has not met does not search for it")
		}
		return nil
	})
}
