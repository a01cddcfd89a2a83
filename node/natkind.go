package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/dialrange"
	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/internal/natkind"
	"github.com/clubnode/clubnode/p2p"
)

// The NAT in front of this node.
//
// go-libp2p tells a node whether it is reachable, not how its NAT maps
// ports, and that decides whether hole punching can work at all. A
// private node therefore runs natkind's mapping test against the STUN
// servers of the always-on nodes it is connected to (their TURN servers,
// which answer binding requests without credentials, each on two ports),
// asking each node over libp2p which addresses its server is at: two
// ports of one node are already two destinations, so a single always-on
// node is enough. It does so when it starts and whenever
// the set of always-on nodes it is connected to changes; a symmetric
// result makes the node relay-only in placement (placeTraits), so rooms'
// trees keep it a leaf. A public node has no NAT and tests nothing.

const (
	// natProbeTimeout bounds one test: the servers' addresses over
	// libp2p, then the binding requests.
	natProbeTimeout = 5 * time.Second
	// natRetry is how long after an inconclusive test the same set of
	// always-on nodes is tried again.
	natRetry = 30 * time.Second
)

// natWatch runs the mapping test and keeps its latest result.
type natWatch struct {
	n    *Node
	work *group.Group
	wake chan struct{}

	mu     sync.Mutex
	result natkind.Result
	tested []peer.ID // the always-on nodes of the latest test
	at     time.Time
}

func newNATWatch(n *Node) *natWatch {
	w := &natWatch{n: n, work: group.New(context.Background()), wake: make(chan struct{}, 1),
		result: natkind.Result{Kind: natkind.Unknown}}
	if n.p2p.Reachability() == p2p.ReachPublic {
		w.result.Kind = natkind.Public
		return w
	}
	sub, err := n.p2p.Host().EventBus().Subscribe([]any{new(event.EvtPeerConnectednessChanged),
		new(event.EvtPeerProtocolsUpdated), new(event.EvtPeerIdentificationCompleted)})
	if err != nil {
		n.log.Warn("NAT test: no peer events; testing at start only", "err", err)
	}
	w.work.Go(func(ctx context.Context) { w.run(ctx, sub) })
	return w
}

func (w *natWatch) close() { w.work.Close() }

// poke asks the watch to look at the always-on nodes again.
func (w *natWatch) poke() {
	if w == nil {
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// kind is the latest result.
func (w *natWatch) kind() natkind.Kind {
	if w == nil {
		return natkind.Unknown
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.result.Kind
}

// mapped is what each STUN server saw in the latest test, as text.
func (w *natWatch) mapped() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for s, m := range w.result.Mapped {
		out = append(out, fmt.Sprintf("%s via %s", m, s))
	}
	slices.Sort(out)
	return out
}

// run tests when the always-on nodes change, and again natRetry after an
// inconclusive test.
func (w *natWatch) run(ctx context.Context, sub event.Subscription) {
	var events <-chan any
	if sub != nil {
		defer sub.Close()
		events = sub.Out()
	}
	retry := time.NewTimer(0) // the test at start
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
		case <-w.wake:
		case <-retry.C:
			w.mu.Lock()
			w.tested = nil // the same set is tested again
			w.mu.Unlock()
		}
		servers := w.alwaysOn()
		w.mu.Lock()
		same := slices.Equal(servers, w.tested)
		w.mu.Unlock()
		if same || len(servers) == 0 {
			continue
		}
		if w.test(ctx, servers) == natkind.Unknown {
			retry.Reset(natRetry)
		}
	}
}

// alwaysOn are the verified members this node is connected to that run
// a TURN server (and so a STUN server), sorted.
func (w *natWatch) alwaysOn() []peer.ID {
	h := w.n.p2p.Host()
	var out []peer.ID
	for _, p := range w.n.p2p.VerifiedPeers() {
		if ok, _ := h.Peerstore().SupportsProtocols(p, TURNProtocol); len(ok) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// test runs one mapping test against the STUN servers of servers.
func (w *natWatch) test(ctx context.Context, servers []peer.ID) natkind.Kind {
	ctx, cancel := context.WithTimeout(ctx, natProbeTimeout)
	defer cancel()
	addrs := w.n.stunServers(ctx, servers)
	res, err := natkind.Probe(ctx, addrs, localIPs())
	if err != nil {
		w.n.log.Warn("NAT test", "err", err)
	}
	w.mu.Lock()
	changed := res.Kind != w.result.Kind
	w.result, w.tested, w.at = res, servers, time.Now()
	w.mu.Unlock()
	level := w.n.log.Debug
	if changed {
		level = w.n.log.Info
	}
	level("NAT mapping tested", "kind", res.Kind, "servers", addrs, "mapped", w.mapped())
	return res.Kind
}

// stunServers asks each always-on node in servers, at once, where its
// STUN server is, and returns its addresses (natkind.PortsPerServer at
// most: a node answers on two ports, an older one on one) for every node
// that answered.
func (n *Node) stunServers(ctx context.Context, servers []peer.ID) []netip.AddrPort {
	if len(servers) > natkind.MaxServers {
		servers = servers[:natkind.MaxServers]
	}
	found := make(chan []netip.AddrPort, len(servers))
	for _, s := range servers {
		go func() { // ends with ctx at the latest (natProbeTimeout)
			reply, err := turnProto.Call(ctx, n.p2p.MemberHost(), s, turnRequest{Servers: true})
			if err != nil {
				n.log.Debug("NAT test: no STUN server address", "peer", s, "err", err)
			}
			found <- n.stunAddrs(reply.URLs)
		}()
	}
	var out []netip.AddrPort
	for range servers {
		for _, ap := range <-found {
			if !slices.Contains(out, ap) {
				out = append(out, ap)
			}
		}
	}
	return out
}

// stunAddrs are the first natkind.PortsPerServer different addresses
// among one always-on node's URLs. Under LocalDialsOnly (tests) an
// address that is not this machine's is never probed.
func (n *Node) stunAddrs(urls []string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, u := range urls {
		ap, err := natkind.ParseServer(u)
		if err != nil || n.cfg.LocalDialsOnly && !dialrange.Allowed(ap.Addr()) || slices.Contains(out, ap) {
			continue
		}
		if out = append(out, ap); len(out) == natkind.PortsPerServer {
			break
		}
	}
	return out
}

// localIPs are this machine's addresses: a server that sees one of them
// sees the node without a NAT.
func localIPs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, pfx.Addr().Unmap())
		}
	}
	return out
}
