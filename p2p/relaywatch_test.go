package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/testutil"
)

// A relay that stops answering (its machine froze: packets vanish, no
// connection is closed) is dropped by the relay watch within its bound,
// and AutoRelay then takes a reservation on the spare relay; the relay
// that still answers keeps its connection. Without the watch the frozen
// relay's QUIC connection looks alive for 30 s.
func TestRelayWatchDropsFrozenRelay(t *testing.T) {
	if os.Getenv(loopbackPublicEnv) == "" {
		runAlone(t)
		return
	}
	relays := []*frozenRelay{newFrozenRelay(t), newFrozenRelay(t), newFrozenRelay(t)}
	var static []peer.AddrInfo
	for _, r := range relays {
		static = append(static, r.info())
	}
	b := newPrivateNode(t, static)

	// AutoRelay keeps two reservations (natOptions); the third relay is
	// the spare.
	var inUse []peer.ID
	testutil.Eventually(t, 20*time.Second, func() error {
		inUse = reservedOn(b)
		if len(inUse) != 2 {
			return fmt.Errorf("reservations on %d relays, want 2", len(inUse))
		}
		return nil
	})
	frozen, kept := relayByID(relays, inUse[0]), inUse[1]
	keptConns := b.host.Network().ConnsToPeer(kept)
	if len(keptConns) != 1 {
		t.Fatalf("%d connections to the relay kept, want 1", len(keptConns))
	}

	frozen.proxy.freeze()
	start := time.Now()
	// Two seconds of slack for a loaded machine: without the watch the
	// frozen relay stays for QUIC's 30 s idle timeout.
	bound := relayWatchInterval + relayPingTimeout + 2*time.Second
	testutil.Eventually(t, bound, func() error {
		if slices.Contains(reservedOn(b), frozen.h.ID()) || b.host.Network().Connectedness(frozen.h.ID()) == network.Connected {
			return errors.New("the frozen relay is still in use")
		}
		return nil
	})
	t.Logf("frozen relay dropped after %v", time.Since(start).Round(time.Millisecond))
	testutil.Eventually(t, 15*time.Second, func() error {
		if n := len(reservedOn(b)); n != 2 {
			return fmt.Errorf("reservations on %d relays, want 2 again", n)
		}
		return nil
	})
	t.Logf("reservations on two relays again after %v", time.Since(start).Round(time.Millisecond))
	if !slices.Contains(reservedOn(b), kept) || keptConns[0].IsClosed() {
		t.Fatal("the relay that answers lost its reservation or its connection")
	}
}

// loopbackPublicEnv set in a test process makes go-libp2p take
// 127.0.0.0/8 for public addresses there, from TestMain on: AutoRelay
// announces circuit addresses only through relays with public addresses
// (which is how the relay watch sees the relays a node holds a
// reservation on). The table is a package variable that every libp2p
// dial reads, so it is changed only in a process of its own, before any
// host exists (runAlone); changed during a test, it raced with the dials
// of hosts that earlier tests left closing.
const loopbackPublicEnv = "CLUBNODE_TEST_LOOPBACK_PUBLIC"

func loopbackIsInternet() {
	manet.Private4 = slices.DeleteFunc(slices.Clone(manet.Private4), func(n *net.IPNet) bool { return n.Contains(net.IPv4(127, 0, 0, 1)) })
}

// runAlone runs the calling test again in a process of its own with
// loopbackPublicEnv set, and fails if it fails there.
func runAlone(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), loopbackPublicEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a process of its own: %v\n%s", t.Name(), err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s did not run in its own process:\n%s", t.Name(), out)
	}
	t.Logf("in a process of its own:\n%s", out)
}

// newPrivateNode is a node behind NAT keeping reservations on relays.
func newPrivateNode(t *testing.T, relays []peer.AddrInfo) *Node {
	t.Helper()
	key, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{
		Key:          key,
		ListenAddrs:  []string{"/ip4/127.0.0.1/udp/0/quic-v1"},
		Ledger:       &memLedger{},
		Events:       &recorder{},
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		HelloTimeout: 2 * time.Second,
		NAT:          NATConfig{Reachability: ReachPrivate, StaticRelays: relays},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// reservedOn lists the relays in n's circuit addresses.
func reservedOn(n *Node) []peer.ID {
	var out []peer.ID
	for _, a := range n.host.Addrs() {
		if r, ok := relayOf(a); ok && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// frozenRelay is a plain go-libp2p relay reached only through a UDP proxy
// that can stop forwarding, as a machine that froze or lost its cable.
type frozenRelay struct {
	h     host.Host
	proxy *udpProxy
}

func newFrozenRelay(t *testing.T) *frozenRelay {
	t.Helper()
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	front := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", ln.LocalAddr().(*net.UDPAddr).Port))
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"),
		libp2p.DisableRelay(),
		libp2p.EnableRelayService(),
		libp2p.ForceReachabilityPublic(),
		libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return []ma.Multiaddr{front} }),
	)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	back, err := manet.ToNetAddr(h.Network().ListenAddresses()[0].Decapsulate(ma.StringCast("/quic-v1")))
	if err != nil {
		t.Fatal(err)
	}
	p := &udpProxy{ln: ln, back: back.(*net.UDPAddr), ups: map[string]*net.UDPConn{}}
	p.wg.Add(1)
	go p.run()
	t.Cleanup(p.close)
	testutil.Eventually(t, 5*time.Second, func() error {
		if !slices.Contains(h.Mux().Protocols(), proto.ProtoIDv2Hop) {
			return errors.New("relay service not started yet")
		}
		return nil
	})
	return &frozenRelay{h: h, proxy: p}
}

func (r *frozenRelay) info() peer.AddrInfo {
	return peer.AddrInfo{ID: r.h.ID(), Addrs: r.h.Addrs()}
}

func relayByID(rs []*frozenRelay, id peer.ID) *frozenRelay {
	for _, r := range rs {
		if r.h.ID() == id {
			return r
		}
	}
	panic("no such relay")
}

// udpProxy forwards datagrams between its clients and one address, one
// upstream socket per client, until frozen: then it drops everything.
type udpProxy struct {
	ln     *net.UDPConn
	back   *net.UDPAddr
	frozen atomic.Bool
	mu     sync.Mutex
	ups    map[string]*net.UDPConn
	wg     sync.WaitGroup
}

func (p *udpProxy) freeze() { p.frozen.Store(true) }

// run reads from clients until the listening socket is closed.
func (p *udpProxy) run() {
	defer p.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		n, from, err := p.ln.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if p.frozen.Load() {
			continue
		}
		if up := p.upstream(from); up != nil {
			_, _ = up.Write(buf[:n])
		}
	}
}

func (p *udpProxy) upstream(client *net.UDPAddr) *net.UDPConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if up, ok := p.ups[client.String()]; ok || p.ups == nil {
		return up
	}
	up, err := net.DialUDP("udp4", nil, p.back)
	if err != nil {
		return nil
	}
	p.ups[client.String()] = up
	p.wg.Add(1)
	go func() { // ends when close closes up
		defer p.wg.Done()
		buf := make([]byte, 1<<16)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			if !p.frozen.Load() {
				_, _ = p.ln.WriteToUDP(buf[:n], client)
			}
		}
	}()
	return up
}

func (p *udpProxy) close() {
	p.mu.Lock()
	for _, up := range p.ups {
		up.Close()
	}
	p.ups = nil
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// A node behind NAT that uses no relay does not look for relays to ping
// every second: its watch sleeps until a circuit address or a relayed
// connection appears (TestRelayWatchDropsFrozenRelay shows it wakes then).
func TestRelayWatchSleepsWithoutRelays(t *testing.T) {
	b := newPrivateNode(t, nil)
	testutil.Eventually(t, 5*time.Second, func() error {
		if b.relayLooks.Load() == 0 {
			return errors.New("the relay watch has not looked yet")
		}
		return nil
	})
	before := b.relayLooks.Load()
	time.Sleep(3 * relayWatchInterval) // the quiet being measured, not a wait for an event
	if n := b.relayLooks.Load() - before; n > 1 {
		t.Fatalf("the relay watch looked %d times in %v with no relay in use, want at most 1", n, 3*relayWatchInterval)
	}
}
