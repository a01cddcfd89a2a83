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
	"github.com/clubnode/clubnode/internal/group"
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

	const keys = 300
	f := startFlood(t, peer.AddrInfo{ID: a.ID(), Addrs: a.host.Addrs()}, keys, 16)
	defer f.stop()
	testutil.Eventually(t, 90*time.Second, func() error {
		if n := f.connects.Load(); n < keys {
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
	t.Logf("newcomer joined in %s during a flood of %d keys and 16 fresh-key churners (%d connections got through); A holds %d unproven inbound connections (budget %d)",
		time.Since(start).Round(time.Millisecond), keys, f.connects.Load(), inbound, a.cfg.UnprovenBudget)
}

// flood is the attack of TestNewcomerJoinsDuringConnectionFlood: keys
// outsider keys dial the target and, when cut off, dial again five seconds
// later; and, the attacker's best against backing off keys, churners dial
// with a fresh key each time. Each holds its connection for as long as the
// target lets it. The dialers pace their handshakes (16 at a time): this
// process does both sides' cryptography on the same two cores, and a storm
// of handshakes would measure the CPU, not what the target lets a
// connection hold once it is up.
type flood struct {
	t          *testing.T
	target     peer.AddrInfo
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	handshakes chan struct{}
	connects   atomic.Int32
}

func startFlood(t *testing.T, target peer.AddrInfo, keys, churners int) *flood {
	ctx, cancel := context.WithCancel(context.Background())
	f := &flood{t: t, target: target, ctx: ctx, cancel: cancel, handshakes: make(chan struct{}, 16)}
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
	for _, h := range hosts {
		f.wg.Go(func() {
			for ctx.Err() == nil {
				f.hold(h)
				group.Sleep(ctx, 5*time.Second)
			}
		})
	}
	for range churners {
		f.wg.Go(func() {
			for ctx.Err() == nil {
				h := outsiderHost(t)
				f.hold(h)
				_ = h.Close()
				group.Sleep(ctx, 200*time.Millisecond)
			}
		})
	}
	return f
}

// hold connects h to the target and keeps the connection until the target
// drops it or the flood stops.
func (f *flood) hold(h host.Host) {
	select {
	case f.handshakes <- struct{}{}:
	case <-f.ctx.Done():
		return
	}
	dctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
	defer cancel()
	err := h.Connect(dctx, f.target)
	<-f.handshakes
	if err != nil {
		return
	}
	f.connects.Add(1)
	for f.ctx.Err() == nil && h.Network().Connectedness(f.target.ID) == network.Connected {
		group.Sleep(f.ctx, 50*time.Millisecond)
	}
}

func (f *flood) stop() {
	f.cancel()
	f.wg.Wait()
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
	// C joined through B: until C has found A too, B (about to be cut off)
	// is its only way to hear the revocation.
	testutil.Eventually(t, 15*time.Second, func() error {
		if !a.isVerified(c.ID()) {
			return errors.New("A and C not connected yet")
		}
		return nil
	})
	meshed(t, a, c)

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
	began := time.Now()
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
	// The bucket refills one update per profileEvery while the burst is
	// sent (slowly, on a loaded machine), and each periodic members sync
	// C pulls meanwhile may bring B's newest profile (one a sync, at C's
	// pace, not the attacker's).
	limit := func() int {
		elapsed := time.Since(began)
		return profileBurst + 1 + int(elapsed/profileEvery) + 1 + int(elapsed/c.cfg.SyncInterval)
	}
	// Give the last ones the time they would need to arrive.
	within(time.Second, func() bool { return seen()-base > limit() })
	if got, max := seen()-base, limit(); got > max {
		t.Fatalf("C accepted %d of %d profile updates sent in a burst (limit %d)", got, burst, max)
	}
}
