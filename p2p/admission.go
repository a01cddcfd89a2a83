package p2p

import (
	"net/netip"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Admission of peers that have not proved membership yet.
//
// A peer that dials in gets HelloTimeout (2 s by default) to prove its
// membership in hello, or to redeem an invite; then it is cut off. While it
// has not, it counts against a budget of its own (UnprovenBudget): when a
// new unproven peer would exceed it, the oldest unproven one goes. So a
// flood of fresh keys can hold a slot only for as long as the next ones
// take to arrive, a newcomer redeeming an invite always gets in (it is the
// newest, and once redeeming it is not evicted), and members, whose keys
// this node knows, never count against the budget at all.
//
// A key that failed (refused in hello, or silent past the window) is
// refused at the handshake for a while, doubling up to maxBackoff; so is a
// remote address that failed often, except loopback, where every local
// process shares one address.

const (
	firstBackoff      = 30 * time.Second
	maxBackoff        = 10 * time.Minute
	maxBackedOff      = 4096 // keys and addresses remembered
	addrFailuresLimit = 16   // failures from one address before it is refused
)

// unprovenPeers is the set of inbound peers still to prove membership,
// with when each arrived and whether it is busy redeeming an invite.
// Callers hold Node.mu.
type unprovenPeers struct {
	since     map[peer.ID]time.Time
	redeeming map[peer.ID]bool
}

func (u *unprovenPeers) add(p peer.ID, now time.Time) {
	if u.since == nil {
		u.since, u.redeeming = map[peer.ID]time.Time{}, map[peer.ID]bool{}
	}
	if _, ok := u.since[p]; !ok {
		u.since[p] = now
	}
}

func (u *unprovenPeers) remove(p peer.ID) {
	delete(u.since, p)
	delete(u.redeeming, p)
}

// overflow returns the oldest peer that may be evicted when more than
// budget are waiting, or "".
func (u *unprovenPeers) overflow(budget int) peer.ID {
	if len(u.since) <= budget {
		return ""
	}
	var oldest peer.ID
	var at time.Time
	for p, t := range u.since {
		if u.redeeming[p] {
			continue
		}
		if oldest == "" || t.Before(at) {
			oldest, at = p, t
		}
	}
	return oldest
}

// backoff remembers keys and addresses that failed to prove membership.
// It is safe for concurrent use: the connection gater asks it.
type backoff struct {
	mu    sync.Mutex
	keys  map[peer.ID]penalty
	addrs map[netip.Addr]penalty
}

type penalty struct {
	failures int
	until    time.Time
}

func newBackoff() *backoff {
	return &backoff{keys: map[peer.ID]penalty{}, addrs: map[netip.Addr]penalty{}}
}

// fail records a failure of p, seen at addr (may be nil).
func (b *backoff) fail(p peer.ID, addr ma.Multiaddr, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keys[p] = next(b.keys[p], now)
	if ip, ok := remoteIP(addr); ok && !ip.IsLoopback() {
		b.addrs[ip] = next(b.addrs[ip], now)
	}
	prune(b.keys, now)
	prune(b.addrs, now)
}

// forgive clears p's record once it proved membership.
func (b *backoff) forgive(p peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.keys, p)
}

func (b *backoff) keyRefused(p peer.ID, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return now.Before(b.keys[p].until)
}

func (b *backoff) addrRefused(addr ma.Multiaddr, now time.Time) bool {
	ip, ok := remoteIP(addr)
	if !ok || ip.IsLoopback() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	pen := b.addrs[ip]
	return pen.failures >= addrFailuresLimit && now.Before(pen.until)
}

func next(p penalty, now time.Time) penalty {
	d := firstBackoff << min(p.failures, 8)
	p.failures++
	p.until = now.Add(min(d, maxBackoff))
	return p
}

// prune keeps a map of penalties under maxBackedOff entries, dropping the
// expired ones first and then, if it must, arbitrary ones.
func prune[K comparable](m map[K]penalty, now time.Time) {
	if len(m) <= maxBackedOff {
		return
	}
	for k, p := range m {
		if !now.Before(p.until) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) <= maxBackedOff {
			return
		}
		delete(m, k)
	}
}

func remoteIP(addr ma.Multiaddr) (netip.Addr, bool) {
	if addr == nil {
		return netip.Addr{}, false
	}
	ip, err := manet.ToIP(addr)
	if err != nil {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}
