package p2p

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// NAT traversal of the control plane.
//
// A node knows whether it is reachable (Reachability: from its addresses
// and the config; AutoNAT v2 runs, its service for members only, but
// does not decide it). A reachable node runs the circuit relay v2 service for
// members, with limits sized for control traffic (hello, redeem, room
// requests, placement, media signalling: all of them allow limited
// connections). A node that is not reachable keeps reservations on the
// network's always-on nodes (AutoRelay, fed with the relays this node
// learned from its invite, its config and the members that announce the
// relay protocol) and announces its circuit addresses, through which
// DCUtR then punches a direct connection. Audio never rides the relay: it
// goes over ICE (audio/rtc), with TURN on the always-on nodes.

// Reachability says how a node finds out whether others can dial it.
const (
	// ReachAuto: public when one of the listen addresses (or a
	// configured public address) is a public one, private otherwise.
	ReachAuto = "auto"
	// ReachPublic: the node is reachable (a server, a port forward).
	ReachPublic = "public"
	// ReachPrivate: the node is behind NAT; it uses relays.
	ReachPrivate = "private"
)

// RelayLimits bound the circuit relay service of a reachable node.
type RelayLimits struct {
	// MaxReservations is how many members may hold a reservation at once.
	MaxReservations int
	// MaxCircuits is how many relayed connections one member may have.
	MaxCircuits int
	// CircuitDuration and CircuitBytes end one relayed connection
	// (each direction's bytes): enough for the control exchanges that run
	// before a hole is punched, never for audio.
	CircuitDuration time.Duration
	CircuitBytes    int64
}

// NATConfig configures reachability and relaying.
type NATConfig struct {
	// Reachability is ReachAuto (default), ReachPublic or ReachPrivate.
	Reachability string
	// PublicAddrs are addresses this node announces besides its own,
	// e.g. a router's public address with a port forward. Setting one
	// makes an automatic node public.
	PublicAddrs []string
	// NoRelayService turns off the relay service of a reachable node.
	NoRelayService bool
	// RelayLimits are the relay service's limits (defaults: 128
	// reservations, 16 circuits each, 30 minutes and 4 MiB a circuit).
	RelayLimits RelayLimits
	// StaticRelays are always-on nodes to keep reservations on when not
	// reachable, besides those learned at run time (AddRelays).
	StaticRelays []peer.AddrInfo
	// PortMapping asks the home router for a port (UPnP, NAT-PMP).
	PortMapping bool
	// LabInternet are address ranges that go-libp2p otherwise takes for
	// unroutable (documentation and benchmarking ranges) to be taken as
	// the public Internet: for labs of network namespaces only. It
	// changes a process-wide table, once.
	LabInternet []netip.Prefix
}

func (c *NATConfig) setDefaults() error {
	switch c.Reachability {
	case "":
		c.Reachability = ReachAuto
	case ReachAuto, ReachPublic, ReachPrivate:
	default:
		return fmt.Errorf("p2p config: reachability %q: want auto, public or private", c.Reachability)
	}
	for _, a := range c.PublicAddrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("p2p config: public address %q: %w", a, err)
		}
	}
	l := &c.RelayLimits
	if l.MaxReservations <= 0 {
		l.MaxReservations = 128
	}
	if l.MaxCircuits <= 0 {
		l.MaxCircuits = 16
	}
	// A tree link's signalling stream (its heartbeats, about half a
	// KiB/s both ways) stays on the relayed connection when no hole can
	// be punched (a symmetric NAT): go-libp2p's defaults (2 minutes,
	// 128 KiB) would cut it every 2 minutes. Audio never goes this way.
	if l.CircuitDuration <= 0 {
		l.CircuitDuration = 30 * time.Minute
	}
	if l.CircuitBytes <= 0 {
		l.CircuitBytes = 4 << 20
	}
	return nil
}

var labOnce sync.Once

// treatAsInternet removes the ranges from go-libp2p's unroutable table,
// so that a lab's "internet" is public to AutoNAT, identify's observed
// addresses and hole punching, as real public addresses are.
func treatAsInternet(prefixes []netip.Prefix) {
	if len(prefixes) == 0 {
		return
	}
	labOnce.Do(func() {
		manet.Unroutable4 = slices.DeleteFunc(slices.Clone(manet.Unroutable4), func(n *net.IPNet) bool {
			for _, p := range prefixes {
				ip, ok := netip.AddrFromSlice(n.IP)
				if ok && p.Contains(ip.Unmap()) {
					return true
				}
			}
			return false
		})
	})
}

// reachability resolves ReachAuto from the listen addresses.
func (c *Config) reachability() string {
	if c.NAT.Reachability != ReachAuto {
		return c.NAT.Reachability
	}
	if len(c.NAT.PublicAddrs) > 0 {
		return ReachPublic
	}
	ifaces, _ := manet.InterfaceMultiaddrs()
	for _, s := range c.ListenAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if manet.IsPublicAddr(a) {
			return ReachPublic
		}
		if ip, err := manet.ToIP(a); err == nil && ip.IsUnspecified() {
			for _, i := range ifaces {
				if manet.IsPublicAddr(i) {
					return ReachPublic
				}
			}
		}
	}
	return ReachPrivate
}

// natOptions are the libp2p options of the NAT traversal.
func (n *Node) natOptions() ([]libp2p.Option, error) {
	c := &n.cfg.NAT
	treatAsInternet(c.LabInternet)
	n.relays.add(c.StaticRelays...)
	opts := []libp2p.Option{
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(),
		// AutoNAT v2 checks each address this node announces, and its
		// dial-back service answers members only (p2p/rmgate.go). Its
		// answer does not decide reachability: go-libp2p 0.51 cannot
		// let it while reachability is forced (libp2p/go-libp2p#3515,
		// PR #3527). (The v1 dial-back service is not started: every
		// node here forces its reachability, and go-libp2p never closes
		// that service's swarm when it is forced.)
		libp2p.EnableAutoNATv2(),
	}
	if len(c.PublicAddrs) > 0 {
		var extra []ma.Multiaddr
		for _, s := range c.PublicAddrs {
			a, err := ma.NewMultiaddr(s)
			if err != nil {
				return nil, fmt.Errorf("public address %q: %w", s, err)
			}
			extra = append(extra, a)
		}
		opts = append(opts, libp2p.AddrsFactory(func(addrs []ma.Multiaddr) []ma.Multiaddr {
			return ma.Unique(append(addrs, extra...))
		}))
	}
	if c.PortMapping {
		opts = append(opts, libp2p.NATPortMap())
	}
	n.reach = n.cfg.reachability()
	if n.reach == ReachPublic {
		opts = append(opts, libp2p.ForceReachabilityPublic())
		if !c.NoRelayService {
			opts = append(opts, libp2p.EnableRelayService(
				relayv2.WithResources(relayResources(c.RelayLimits)),
				relayv2.WithACL(relayACL{n})))
		}
		return opts, nil
	}
	return append(opts, libp2p.ForceReachabilityPrivate(),
		libp2p.EnableAutoRelayWithPeerSource(n.relays.source,
			autorelay.WithMinCandidates(1),
			autorelay.WithBootDelay(0),
			autorelay.WithNumRelays(2),
			// An always-on node that went away is tried again soon,
			// not after go-libp2p's default hour.
			autorelay.WithBackoff(30*time.Second),
			autorelay.WithMinInterval(5*time.Second))), nil
}

func relayResources(l RelayLimits) relayv2.Resources {
	r := relayv2.DefaultResources()
	r.Limit = &relayv2.RelayLimit{Duration: l.CircuitDuration, Data: l.CircuitBytes}
	r.MaxReservations = l.MaxReservations
	r.MaxCircuits = l.MaxCircuits
	return r
}

// relayACL lets only members hold a reservation, and relays connections
// only to members (a newcomer redeeming an invite reaches its inviter).
type relayACL struct{ n *Node }

func (a relayACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool {
	_, ok := a.n.member(p)
	return ok && a.n.allowed(p)
}

func (a relayACL) AllowConnect(src peer.ID, _ ma.Multiaddr, dest peer.ID) bool {
	_, ok := a.n.member(dest)
	return ok && a.n.allowed(src) && a.n.allowed(dest)
}

// Reachability is what this node assumes of itself: ReachPublic or
// ReachPrivate.
func (n *Node) Reachability() string { return n.reach }

// AddRelays adds always-on nodes to keep relay reservations on (from an
// invite's bootstrap addresses, from the config).
func (n *Node) AddRelays(infos ...peer.AddrInfo) { n.relays.add(infos...) }

// relaySet is the candidates for AutoRelay: the configured and learned
// always-on nodes, and the connected members that announce the relay
// protocol.
type relaySet struct {
	mu     sync.Mutex
	self   peer.ID
	static map[peer.ID]peer.AddrInfo
	// members lists the verified peers; supports says whether a peer
	// announced the relay protocol.
	members  func() []peer.ID
	supports func(peer.ID) bool
	addrs    func(peer.ID) []ma.Multiaddr
}

func (s *relaySet) add(infos ...peer.AddrInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.static == nil {
		s.static = map[peer.ID]peer.AddrInfo{}
	}
	for _, i := range infos {
		var direct []ma.Multiaddr
		for _, a := range i.Addrs {
			// A member behind NAT is reached through its relay: the
			// relay itself is one of the always-on nodes.
			if relay, _ := ma.SplitFunc(a, func(c ma.Component) bool { return c.Code() == ma.P_CIRCUIT }); len(relay) < len(a) {
				if r, err := peer.AddrInfoFromP2pAddr(relay); err == nil {
					s.put(*r)
				}
				continue
			}
			direct = append(direct, a)
		}
		s.put(peer.AddrInfo{ID: i.ID, Addrs: direct})
	}
}

func (s *relaySet) put(i peer.AddrInfo) {
	if i.ID == "" || i.ID == s.self {
		return
	}
	if old, ok := s.static[i.ID]; ok {
		i.Addrs = ma.Unique(append(old.Addrs, i.Addrs...))
	}
	s.static[i.ID] = i
}

// source is AutoRelay's peer source.
func (s *relaySet) source(ctx context.Context, num int) <-chan peer.AddrInfo {
	s.mu.Lock()
	cands := make([]peer.AddrInfo, 0, len(s.static))
	seen := map[peer.ID]bool{}
	for _, i := range s.static {
		cands = append(cands, i)
		seen[i.ID] = true
	}
	members, supports, addrs := s.members, s.supports, s.addrs
	s.mu.Unlock()
	if members != nil {
		for _, p := range members() {
			if !seen[p] && supports(p) {
				cands = append(cands, peer.AddrInfo{ID: p, Addrs: addrs(p)})
			}
		}
	}
	if len(cands) > num {
		cands = cands[:num]
	}
	out := make(chan peer.AddrInfo, len(cands))
	for _, c := range cands {
		out <- c
	}
	close(out)
	return out
}

func (n *Node) initRelaySet() {
	n.relays.mu.Lock()
	defer n.relays.mu.Unlock()
	n.relays.members = n.VerifiedPeers
	n.relays.supports = func(p peer.ID) bool {
		ok, _ := n.host.Peerstore().SupportsProtocols(p, proto.ProtoIDv2Hop)
		return len(ok) > 0
	}
	n.relays.addrs = n.host.Peerstore().Addrs
}

// IsMember reports whether p is a member this node knows and has not
// revoked.
func (n *Node) IsMember(p peer.ID) bool {
	_, ok := n.member(p)
	return ok && n.allowed(p)
}

// reachTimeout bounds reaching a member on demand.
const reachTimeout = 10 * time.Second

// reachMember connects to a member this node is not connected to, when a
// stream to it is wanted: through the addresses it has (a relay's circuit
// address included, for a member behind NAT), else through those the DHT
// finds; then hello runs on the connection (limited ones allow it).
func (n *Node) reachMember(ctx context.Context, p peer.ID) {
	if p == n.ID() || !n.IsMember(p) {
		return
	}
	n.mu.Lock()
	busy := n.helloing[p] != nil
	var kad *dht.IpfsDHT
	if n.net != nil {
		kad = n.net.kad
	}
	n.mu.Unlock()
	if busy {
		return
	}
	ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "member"), reachTimeout)
	defer cancel()
	// Besides its own addresses, a member behind NAT may hold a
	// reservation on any always-on node this node knows.
	err := n.host.Connect(ctx, peer.AddrInfo{ID: p, Addrs: n.relays.circuitsTo(p)})
	if err != nil && kad != nil {
		var info peer.AddrInfo
		if info, err = kad.FindPeer(ctx, p); err == nil {
			err = n.host.Connect(ctx, info)
		}
	}
	if err != nil {
		n.log.Debug("member not reachable", "peer", p, "err", err)
		return
	}
	if err := n.sayHello(ctx, p); err != nil {
		n.log.Debug("hello to a member reached on demand failed", "peer", p, "err", err)
	}
}

// ReachMember connects to member p, unless this node is connected to it
// already: through its known addresses, relays, or the DHT (reachMember).
func (n *Node) ReachMember(ctx context.Context, p peer.ID) {
	if n.host.Network().Connectedness(p) == network.Connected {
		return
	}
	n.reachMember(ctx, p)
}

// circuitsTo are addresses of p through each relay candidate.
func (s *relaySet) circuitsTo(p peer.ID) []ma.Multiaddr {
	s.mu.Lock()
	relays := make([]peer.AddrInfo, 0, len(s.static))
	for _, r := range s.static {
		relays = append(relays, r)
	}
	members, supports, addrs := s.members, s.supports, s.addrs
	s.mu.Unlock()
	if members != nil {
		for _, m := range members() {
			if supports(m) {
				relays = append(relays, peer.AddrInfo{ID: m, Addrs: addrs(m)})
			}
		}
	}
	var out []ma.Multiaddr
	for _, r := range relays {
		if r.ID == p {
			continue
		}
		for _, a := range r.Addrs {
			c, err := ma.NewMultiaddr("/p2p/" + r.ID.String() + "/p2p-circuit")
			if err == nil {
				out = append(out, a.Encapsulate(c))
			}
		}
	}
	return ma.Unique(out)
}
