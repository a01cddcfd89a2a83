package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/testutil"
)

// Attack 7: 300 outsider keys hold a member's inbound connections, and a
// newcomer redeeming an invite at that member must still get in.
func TestNewcomerJoinsDuringConnectionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("300 libp2p hosts")
	}
	a := newNode(t)
	found(t, a, "Night Owls")
	inv := bearerInvite(t, a, 1)
	target := peer.AddrInfo{ID: a.ID(), Addrs: a.host.Addrs()}

	// 300 outsider keys dial and, when cut off, dial again; and, the
	// attacker's best against backing off keys, churners dial with a
	// fresh key each time. Each holds its connection for as long as the
	// member lets it.
	const keys, churners, redial = 300, 16, 5 * time.Second
	hosts := make([]host.Host, keys)
	var made sync.WaitGroup
	for i := range hosts {
		made.Add(1)
		go func() {
			defer made.Done()
			hosts[i] = outsiderHost(t)
		}()
		if i%8 == 7 {
			made.Wait() // a few at a time: making hosts is the slow part
		}
	}
	made.Wait()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var connects, attempts atomic.Int32
	// The dialers pace their handshakes (16 at a time): this process does
	// both sides' cryptography on the same two cores, and a storm of
	// handshakes would measure the CPU, not what the member lets a
	// connection hold once it is up.
	handshakes := make(chan struct{}, 16)
	hold := func(h host.Host) {
		select {
		case handshakes <- struct{}{}:
		case <-ctx.Done():
			return
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		attempts.Add(1)
		err := h.Connect(dctx, target)
		<-handshakes
		if err != nil {
			return
		}
		connects.Add(1)
		for ctx.Err() == nil && h.Network().Connectedness(a.ID()) == network.Connected {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				hold(h)
				select { // and dials again a while after being cut off
				case <-ctx.Done():
				case <-time.After(redial):
				}
			}
		}()
	}
	for range churners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				h := outsiderHost(t)
				hold(h)
				_ = h.Close()
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()
	testutil.Eventually(t, 90*time.Second, func() error {
		if n := connects.Load(); n < keys {
			return fmt.Errorf("the flood is still building up (%d connections so far)", n)
		}
		return nil
	})

	newcomer := newNode(t)
	start := time.Now()
	jctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	chain, err := newcomer.Redeem(jctx, inv)
	if err != nil {
		_ = a.host.Network().ResourceManager().ViewTransient(func(s network.ResourceScope) error {
			t.Logf("A's transient scope: %+v", s.Stat())
			return nil
		})
		_ = a.host.Network().ResourceManager().ViewSystem(func(s network.ResourceScope) error {
			t.Logf("A's system scope: %+v", s.Stat())
			return nil
		})
		t.Fatalf("a newcomer could not redeem its invite during a flood of %d keys: %v", keys, err)
	}
	if err := newcomer.Enter(NetworkState{Chain: chain, KnownPeers: BootstrapAddrs(inv)}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if !a.Connected(newcomer.ID()) {
			return errors.New("the newcomer has not proved its membership to A yet")
		}
		return nil
	})
	inbound := 0
	for _, c := range a.host.Network().Conns() {
		if c.Stat().Direction == network.DirInbound && !a.isVerified(c.RemotePeer()) {
			inbound++
		}
	}
	t.Logf("newcomer joined in %s during a flood of %d keys and %d fresh-key churners (%d connections got through); A holds %d unproven inbound connections (budget %d)",
		time.Since(start).Round(time.Millisecond), keys, churners, connects.Load(), inbound, a.cfg.UnprovenBudget)
}

// outsiderHost is a libp2p host with a fresh key and no limits of its own.
func outsiderHost(t *testing.T) host.Host {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics(),
		libp2p.ResourceManager(&network.NullResourceManager{}))
	if err != nil {
		t.Error(err)
		return nil
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// Attack 8: a revoked member signs a certificate dated before its own
// revocation; nobody accepts the new member.
func TestRevokedMemberCannotBackdateAnInvite(t *testing.T) {
	a, b, c := newNode(t), newNode(t), newNode(t)
	found(t, a, "Night Owls")
	join(t, b, bearerInvite(t, a, 1))
	join(t, c, bearerInvite(t, b, 1))
	testutil.Eventually(t, 15*time.Second, knowsMembers(a, b.ID(), c.ID()))

	m, _ := a.Member(b.ID())
	rev, err := identity.Revoke(a.cfg.Key, m.Chain, false, a.InviteesOf(b.ID()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PublishRevocation(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok := c.Revocations().Get(b.ID()); !ok {
			return errors.New("C has not heard of B's revocation")
		}
		return nil
	})

	// B, revoked but still holding its key and its old chain, certifies
	// D with a date before the revocation (as early as it can: the date
	// of its own certificate).
	d := newNode(t)
	cert, err := identity.IssueCert(b.cfg.Key, b.Chain(), d.ID(), b.Chain().Certs[0].Issued)
	if err != nil {
		t.Fatal(err)
	}
	chainD, err := b.Chain().Extend(cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Enter(NetworkState{Chain: chainD}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{a, c} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := d.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.host.Addrs()}); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		ok := within(2*time.Second, func() bool { return n.isVerified(d.ID()) })
		if ok {
			t.Fatalf("%s accepted a member certified by a revoked member with a backdated certificate", n.ID())
		}
	}
	// C, whom B invited before and the revocation keeps, is still a member.
	if !a.Connected(c.ID()) {
		t.Fatal("C was cut off although the revocation keeps it")
	}
}

// Rate limits on membership gossip: a burst of 301 profile updates is not
// all accepted and relayed.
func TestProfileFloodIsRateLimited(t *testing.T) {
	a, b, c := threeMembers(t)
	_ = a
	seen := func() int {
		rec := c.cfg.Events.(*recorder)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.profiles[b.ID()]
	}
	base := seen()
	// Published one after another (paced, so that gossip itself drops
	// none and delivers them in order): without a limit C would accept
	// every one.
	const burst = 301
	for i := range burst {
		p, err := identity.SignProfile(b.cfg.Key, identity.Profile{Network: b.Chain().Network(), Peer: b.ID(),
			Name: "Bob", Bio: string(rune('a' + i%26)), Updated: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.PublishProfile(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // pacing the attacker, not waiting for anything
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if seen() == base {
			return errors.New("C has heard none of B's updates")
		}
		return nil
	})
	// Give the last ones the time they would need to arrive.
	within(time.Second, func() bool { return seen()-base > profileBurst+1 })
	if got := seen() - base; got > profileBurst+1 {
		t.Fatalf("C accepted %d of %d profile updates sent in a burst (limit %d)", got, burst, profileBurst)
	}
}
