package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/group"
)

// Ledger counts the uses of the bearer invites this node signed. The node
// implements it over its datastore; p2p calls it when someone redeems.
type Ledger interface {
	// UseInvite records one use of inv by redeemer and fails (saying why)
	// when the invite has no uses left. A redeemer that already used the
	// invite may redeem again without using it up further.
	UseInvite(inv *identity.SignedInvite, redeemer peer.ID) error
	// InviteUsesLeft says how many more nodes may join with inv; a
	// redeemer that already used it counts as having one left.
	InviteUsesLeft(inv *identity.SignedInvite, redeemer peer.ID) (int, error)
}

// Events tells the node's owner what it must persist. Calls come from
// network goroutines and must not block for long.
type Events interface {
	// MemberSeen: a member was learned or updated (new chain or newer
	// profile). addrs is non-empty when the member is connected.
	MemberSeen(m Member, addrs []ma.Multiaddr)
	// RevocationReceived: a new revocation was accepted (possibly of this
	// node itself).
	RevocationReceived(r *identity.SignedRevocation)
}

// Config configures a Node. Key, Ledger and Events are required.
type Config struct {
	Key         crypto.PrivKey
	ListenAddrs []string
	Ledger      Ledger
	Events      Events
	Logger      *slog.Logger
	// MDNS enables discovery of members on the local network.
	MDNS bool
	// HelloTimeout is how long an inbound peer has to prove membership
	// (or to redeem an invite) before it is disconnected (default 2 s).
	HelloTimeout time.Duration
	// UnprovenBudget bounds the inbound peers waiting to prove membership
	// at once; past it the oldest is dropped (default 64). Members this
	// node knows never count against it.
	UnprovenBudget int
	// DiscoveryInterval is how often the DHT is searched for members and
	// remembered peers are redialled.
	DiscoveryInterval time.Duration
	// SyncInterval is how often a members sync is pulled from the
	// connected member synced least recently (default 5 min): what gossip
	// failed to carry (a revocation published before two members had
	// exchanged subscriptions, a message dropped by a starved validator)
	// still arrives.
	SyncInterval time.Duration
	// MaxConns bounds connections (resource manager and connection manager).
	MaxConns int
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// Metrics, if set, receives go-libp2p's own collectors (swarm,
	// resource manager, and relay, hole punching and AutoNAT when they
	// run); nil turns libp2p's metrics off.
	Metrics prometheus.Registerer
	// NAT configures reachability, the relay service and relays (nat.go).
	NAT NATConfig
	// LocalDialsOnly refuses every dial but to loopback and this
	// machine's own interface addresses (internal/dialrange). Only tests
	// set it: their nodes announce documentation-range public addresses
	// that exist nowhere, and a redial or DHT lookup must not send them
	// through the machine's default route. A user never sets it.
	LocalDialsOnly bool
}

func (c *Config) setDefaults() error {
	if c.Key == nil {
		return errors.New("p2p config: Key is required")
	}
	if c.Ledger == nil || c.Events == nil {
		return errors.New("p2p config: Ledger and Events are required")
	}
	if len(c.ListenAddrs) == 0 {
		return errors.New("p2p config: at least one listen address is required")
	}
	for _, a := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("p2p config: listen address %q: %w", a, err)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = 2 * time.Second
	}
	if c.UnprovenBudget <= 0 {
		c.UnprovenBudget = 64
	}
	if c.DiscoveryInterval <= 0 {
		c.DiscoveryInterval = 30 * time.Second
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = 5 * time.Minute
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 400
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c.NAT.setDefaults()
}

// Node is a libp2p host with clubnode's membership gate in front of it.
type Node struct {
	cfg     Config
	log     *slog.Logger
	host    host.Host
	ps      *pubsub.PubSub
	gater   *gater
	backoff *backoff        // keys and addresses that failed to prove membership
	work    *group.Group    // the node's goroutines: Close stops and waits for them
	ctx     context.Context // work's
	once    sync.Once

	// gated is the members-only view of host that every network service
	// runs on (gate.go); events feeds its event bus.
	gated  *memberHost
	events *memberEvents

	mu       sync.Mutex
	closed   bool
	net      *netState                   // nil until the node is a member
	verified map[peer.ID]*identity.Chain // peers that passed hello
	// helloing holds this node's hellos in flight, each closed when done:
	// no hello twice, and streams from a peer wait for its answer.
	helloing map[peer.ID]chan struct{}
	unproven unprovenPeers // inbound peers still to prove membership
	// askedAbout is when this node last asked its peers about a peer it
	// did not know as a member (learn.go): once per learnAgain.
	askedAbout map[peer.ID]time.Time
	boots      map[peer.ID]string // each member's start it last said hello from
	boot       [8]byte            // this start's, told in hello
	// redeemingAt is the inviter this node (not a member yet) redeems an
	// invite at: its inbound connections (a punched hole) are kept.
	redeemingAt peer.ID

	reach  string     // ReachPublic or ReachPrivate
	relays relaySet   // AutoRelay's candidates
	punch  punchState // hole punching of relayed connections made too early (punch.go)

	searches   atomic.Int64 // DHT searches for members (findOnce), for tests
	relayLooks atomic.Int64 // the relay watch's looks at the relays in use, for tests
}

// New starts a libp2p host listening on cfg.ListenAddrs.
func New(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("component", "p2p"),
		verified: map[peer.ID]*identity.Chain{}, helloing: map[peer.ID]chan struct{}{}, boots: map[peer.ID]string{},
		askedAbout: map[peer.ID]time.Time{}}
	if _, err := rand.Read(n.boot[:]); err != nil {
		return nil, fmt.Errorf("p2p: boot ID: %w", err)
	}
	n.work = group.New(context.Background())
	n.ctx = n.work.Context()
	n.backoff = newBackoff()
	n.gater = &gater{allow: n.allowed, backoff: n.backoff, now: cfg.Now,
		known: func(p peer.ID) bool { _, ok := n.member(p); return ok }}

	rm, err := newResourceManager(cfg.MaxConns, cfg.Metrics != nil)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.MaxConns/4, cfg.MaxConns, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	if n.relays.self, err = peer.IDFromPrivateKey(cfg.Key); err != nil {
		return nil, fmt.Errorf("p2p: peer ID: %w", err)
	}
	natOpts, err := n.natOptions()
	if err != nil {
		return nil, err
	}
	h, err := libp2p.New(append([]libp2p.Option{
		libp2p.Identity(cfg.Key),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(memberRM{ResourceManager: rm, member: n.isVerified}),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(n.connectionGater()),
		libp2p.UserAgent("clubnode"),
		metricsOption(cfg.Metrics),
	}, natOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	n.host = h
	n.startRelays()
	if n.gated, n.events, err = newMemberHost(n); err != nil {
		h.Close()
		return nil, err
	}
	n.goFn(func(ctx context.Context) { n.forwardEvents(ctx, n.events) })
	n.ps, err = pubsub.NewGossipSub(n.ctx, n.gated,
		pubsub.WithMaxMessageSize(MaxGossipMessage),
		pubsub.WithStrictSignatureVerification(true),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithPeerFilter(func(p peer.ID, _ string) bool { return n.isVerified(p) }),
		pubsub.WithPeerScore(peerScoreParams(), peerScoreThresholds()),
		// Membership events are rare and must reach everyone, including
		// peers not yet grafted into the mesh.
		pubsub.WithFloodPublish(true),
		pubsub.WithGossipSubParams(gossipParams()),
		pubsub.WithLogger(cfg.Logger.With("component", "gossipsub")),
	)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("start gossipsub: %w", err)
	}
	helloProto.Handle(n.ctx, h, n.answerHello)
	redeemProto.Handle(n.ctx, h, n.answerRedeem)
	syncProto.HandleSession(n.ctx, n.gated, n.answerSync)
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { n.onConnected(c) },
		DisconnectedF: func(_ network.Network, c network.Conn) { n.onDisconnected(c.RemotePeer()) },
	})
	n.log.Info("libp2p host started", "peer", h.ID(), "addrs", h.Addrs(), "reachability", n.reach)
	return n, nil
}

func metricsOption(reg prometheus.Registerer) libp2p.Option {
	if reg == nil {
		return libp2p.DisableMetrics()
	}
	return libp2p.PrometheusRegisterer(reg)
}

// newResourceManager sets explicit limits: the defaults scaled to this
// machine, with the connection counts capped at maxConns. Unless metrics
// are wanted, its statistics reporter is turned off: libp2p's
// DisableMetrics does not reach a resource manager made here, and the
// reporter updates Prometheus collectors that no registry then holds on
// every stream and connection event: 2.5% of a 100-daemon run's CPU.
func newResourceManager(maxConns int, metrics bool) (network.ResourceManager, error) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	limits := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns:         rcmgr.LimitVal(maxConns),
			ConnsInbound:  rcmgr.LimitVal(maxConns),
			ConnsOutbound: rcmgr.LimitVal(maxConns),
		},
		// Connections still in their handshake are transient. A flood of
		// handshakes must not fill this scope, or the one a newcomer
		// needs is refused before its peer ID is known; what they hold
		// after the handshake is bounded by the unproven budget.
		Transient: rcmgr.ResourceLimits{
			Conns:        rcmgr.LimitVal(maxConns),
			ConnsInbound: rcmgr.LimitVal(maxConns),
		},
		// A single peer needs few connections; more is a misbehaving peer.
		PeerDefault: rcmgr.ResourceLimits{Conns: 8, ConnsInbound: 4, ConnsOutbound: 4},
	}
	var opts []rcmgr.Option
	if !metrics {
		opts = append(opts, rcmgr.WithMetricsDisabled())
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.Build(scaling.AutoScale())), opts...)
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return rm, nil
}

// Host is the libp2p host itself, which also serves peers that have not
// proved membership (hello, redeem). Protocols of the network use
// MemberHost.
func (n *Node) Host() host.Host { return n.host }

// MemberHost is the host as members see it: only peers that proved
// membership can open its streams, be reached through it or be seen
// connecting. Every protocol of the network (rooms, media) runs on it.
func (n *Node) MemberHost() host.Host { return n.gated }

// PubSub is the gossipsub router, for topics built on top (rooms).
func (n *Node) PubSub() *pubsub.PubSub { return n.ps }

// ID is this node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Addrs lists this node's full addresses (with /p2p/ID), for invites.
func (n *Node) Addrs() []ma.Multiaddr {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	if err != nil {
		return nil
	}
	return addrs
}

// Close stops every goroutine and the host. It is safe to call twice.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		n.mu.Lock()
		n.closed = true
		st := n.net
		n.mu.Unlock()
		if st != nil {
			st.close()
		}
		n.work.Close()
		err = n.host.Close()
		n.events.close()
	})
	return err
}

// goFn runs fn in a goroutine owned by the node: Close waits for it, and
// once closing has begun nothing more runs.
func (n *Node) goFn(fn func(ctx context.Context)) { n.work.Go(fn) }
