package p2p

import (
	"context"
	"fmt"
	"slices"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	dutil "github.com/libp2p/go-libp2p/p2p/discovery/util"

	"github.com/clubnode/clubnode/internal/group"
)

// startDiscovery finds other members three ways: remembered peers are
// redialled, the network's own Kademlia DHT is searched under a rendezvous
// key, and (if enabled) mDNS finds members on the local network.
func (n *Node) startDiscovery(ctx context.Context, st *netState, known []peer.AddrInfo) error {
	// The DHT is members only on both sides: it runs on the members-only
	// host, so an outsider can neither query it nor be queried, its
	// routing table holds verified members only, and a query never dials
	// a peer that is not a known member. Values are off (only provider
	// records are used) and provider records are bounded.
	kad, err := dht.New(n.gated,
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(dhtPrefix),
		dht.BootstrapPeers(known...),
		dht.DisableValues(),
		dht.ProviderDatastore(newBoundedProviders()),
		dht.RoutingTableFilter(func(_ any, p peer.ID) bool { return n.isVerified(p) }),
		dht.QueryFilter(func(_ any, ai peer.AddrInfo) bool { _, ok := n.member(ai.ID); return ok }),
	)
	if err != nil {
		return fmt.Errorf("start DHT: %w", err)
	}
	st.stops = append(st.stops, kad.Close)
	n.mu.Lock()
	st.kad = kad
	n.mu.Unlock()
	disc := drouting.NewRoutingDiscovery(kad)
	ns := rendezvous(st.network())

	n.goFn(func(context.Context) { n.redialLoop(ctx, known) })
	n.goFn(func(context.Context) {
		// Advertise needs peers in the routing table: wait for the first
		// members rather than logging failures.
		if !n.waitForVerifiedPeer(ctx) {
			return
		}
		_ = kad.Bootstrap(ctx)
		dutil.Advertise(ctx, disc, ns)
	})
	n.goFn(func(context.Context) { n.findLoop(ctx, disc, ns) })

	if n.cfg.MDNS {
		svc := mdns.NewMdnsService(n.host, mdnsService, mdnsNotifee{n: n, ctx: ctx})
		if err := svc.Start(); err != nil {
			n.log.Warn("mDNS discovery unavailable", "err", err)
		} else {
			st.stops = append(st.stops, svc.Close)
		}
	}
	return nil
}

func (n *Node) waitForVerifiedPeer(ctx context.Context) bool {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for len(n.VerifiedPeers()) == 0 {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// redialLoop keeps trying remembered peers that are not connected: every
// DiscoveryInterval while this node is in touch with some member, and with
// a pause doubling from one second while it reaches none (a node back from
// being offline, a newcomer whose inviter is busy), so that it gets back
// into the network quickly.
func (n *Node) redialLoop(ctx context.Context, known []peer.AddrInfo) {
	pause := time.Second
	for {
		for _, info := range known {
			if info.ID == n.ID() || n.host.Network().Connectedness(info.ID) == network.Connected {
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_ = n.host.Connect(dctx, info)
			cancel()
		}
		wait := n.cfg.DiscoveryInterval
		if len(n.VerifiedPeers()) == 0 {
			wait, pause = min(pause, wait), min(2*pause, wait)
		} else {
			pause = time.Second
		}
		if !group.Sleep(ctx, wait) {
			return
		}
	}
}

// findLoop searches the DHT for members and connects to those found:
// every DiscoveryInterval once this node is well connected, and with a
// pause doubling from one second until then. A newcomer that reaches only
// its inviter would otherwise wait a whole interval to meet anyone else,
// and lose the network (and its rooms) if the inviter went away first.
func (n *Node) findLoop(ctx context.Context, disc *drouting.RoutingDiscovery, ns string) {
	delay, pause := time.Second, time.Second
	for {
		if !group.Sleep(ctx, delay) {
			return
		}
		if len(n.VerifiedPeers()) > 0 && !n.metEveryMember() {
			n.findOnce(ctx, disc, ns)
		}
		if n.wellConnected() {
			delay, pause = n.cfg.DiscoveryInterval, time.Second
		} else {
			delay, pause = pause, min(2*pause, n.cfg.DiscoveryInterval)
		}
	}
}

// metEveryMember reports whether this node is connected to every member
// it knows. The search is then for nothing: only known members are dialled
// (findOnce), and a member first heard of comes by the membership sync. In
// a small network every member is connected to every other, and each
// search (a DHT lookup asking every peer, every DiscoveryInterval) was a
// large share of an idle member's wakes (BENCHMARKS.md, "a cheaper node").
func (n *Node) metEveryMember() bool {
	met := n.VerifiedPeers() // sorted
	for _, m := range n.Members() {
		id := m.Chain.Member()
		if _, ok := slices.BinarySearch(met, id); id != n.ID() && !ok {
			return false
		}
	}
	return true
}

// wellConnected reports whether this node is connected to enough other
// members that one of them going away leaves it in the network: three, or
// every member there is when the network is smaller.
func (n *Node) wellConnected() bool {
	others := 0
	for _, m := range n.Members() {
		if m.Chain.Member() != n.ID() {
			others++
		}
	}
	return len(n.VerifiedPeers()) >= min(3, others)
}

func (n *Node) findOnce(ctx context.Context, disc *drouting.RoutingDiscovery, ns string) {
	n.searches.Add(1)
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	peers, err := disc.FindPeers(fctx, ns)
	if err != nil {
		return
	}
	for info := range peers {
		if info.ID == n.ID() || len(info.Addrs) == 0 || n.host.Network().Connectedness(info.ID) == network.Connected {
			continue
		}
		// Only members this node knows are dialled (gated's Connect):
		// a record naming a stranger lures nobody.
		if err := n.gated.Connect(fctx, info); err == nil {
			n.log.Debug("found member through the DHT", "peer", info.ID)
		}
	}
}

type mdnsNotifee struct {
	n   *Node
	ctx context.Context
}

// HandlePeerFound connects to a member seen on the LAN. Every clubnode on
// the LAN answers the same service name (it names no network), so only
// peers this node knows as members are dialled; hello then proves it.
func (m mdnsNotifee) HandlePeerFound(info peer.AddrInfo) {
	if info.ID == m.n.ID() {
		return
	}
	if _, known := m.n.member(info.ID); !known {
		return
	}
	m.n.goFn(func(context.Context) {
		ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
		defer cancel()
		_ = m.n.gated.Connect(ctx, info)
	})
}
