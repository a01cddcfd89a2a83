// Package node wires clubnode together: it owns the datastore, runs the
// libp2p side (p2p) as the identity it loads, and serves the local HTTP API
// the CLI and the browser drive it through.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/dialrange"
	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/node/apiconn"
	"github.com/clubnode/clubnode/node/diskstore"
	"github.com/clubnode/clubnode/node/home"
	"github.com/clubnode/clubnode/node/metrics"
	"github.com/clubnode/clubnode/p2p"
	"github.com/clubnode/clubnode/rooms/roomnet"
)

// ErrAlreadyInitialised is returned by Init for a home that has a node.
var ErrAlreadyInitialised = errors.New("already initialised")

// Config configures a Node.
type Config struct {
	// Home is the node's home folder; the API address and token are
	// published there. Required.
	Home home.Home
	// Settings is the config file's content.
	Settings home.Config
	// Datastore overrides the on-disk LevelDB datastore (tests use an
	// in-memory one). The node closes it.
	Datastore ds.Batching
	Logger    *slog.Logger
	// HelloTimeout and DiscoveryInterval tune p2p (zero: its defaults).
	HelloTimeout      time.Duration
	DiscoveryInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RoomAnnounceInterval is how often hosted rooms are re-announced;
	// moderators take over a silent host after two of it and hallways
	// forget its rooms after three. Zero means roomnet's default (5 s).
	RoomAnnounceInterval time.Duration
	// MediaStall is roomnet's Config.MediaStall: zero means its default,
	// negative turns the watch on parents' audio off.
	MediaStall time.Duration
	// MediaLoopbackOnly keeps the rooms' audio on 127.0.0.1 (tests).
	MediaLoopbackOnly bool
	// LogLevel, if set, is the level Logger's handler follows: the API
	// changes it at run time. Nil leaves the level to the handler.
	LogLevel *slog.LevelVar
	// LabInternet are documentation ranges to take for the public
	// Internet (netns labs only; see p2p.NATConfig).
	LabInternet []netip.Prefix
	// LocalDialsOnly keeps every libp2p dial and every ICE check on
	// loopback and this machine's own interface addresses
	// (internal/dialrange). Only tests set it (the node tests' harness
	// does): their nodes announce documentation-range public addresses
	// and TURN URLs that exist nowhere, which must never be sent through
	// the machine's default route. A user never sets it.
	LocalDialsOnly bool
	// TURNCredentialTTL is how long the TURN server's credentials last;
	// zero is its default (an hour). For tests of their renewal.
	TURNCredentialTTL time.Duration
}

// Node is a running clubnode.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *store
	key   crypto.PrivKey
	p2p   *p2p.Node
	// rooms is nil until the node is a member; it is set once, by create
	// or join, while the API (the event stream among others) reads it.
	rooms atomic.Pointer[roomnet.Service]
	rtc   *rtc.API     // the rooms' audio between nodes
	turn  *turnService // the TURN server of a public node, or nil
	// nat tests how the NAT in front of this node maps ports (natkind.go).
	nat *natWatch
	// turnRenew renews the TURN credentials live links use.
	turnRenew *turnRenewer
	media     *localMedia // WHIP and WHEP sessions of local clients
	web       *webUI      // the browser app: sessions, event stream (ui.go)
	api       net.Listener
	limits    apiLimits // the local API server's timeouts and caps (apiserver.go)
	token     string

	joinMu sync.Mutex // one network change (create, join) at a time
	// uiWake tells the event stream that the node's state changed (a
	// room, the hallway, the members), so it looks now rather than at
	// its next slow poll. Capacity 1: wakes coalesce.
	uiWake chan struct{}
	// profileMu makes a profile change one step: the name and bio, the
	// signed profile and what the network is told stay the same person.
	profileMu sync.Mutex
	once      sync.Once

	// metrics is nil unless the config names a metrics address.
	metrics   *metrics.Metrics
	metricsLn net.Listener

	stopReq  chan struct{} // closed by Shutdown: Serve returns
	stopOnce sync.Once
}

// Init creates a node's identity and datastore in h, refusing to touch a
// home that already has one.
func Init(h home.Home, name string) (peer.ID, error) {
	if name == "" {
		return "", invalid("a name is needed (--name NAME): it is what other members see")
	}
	if err := identity.ValidateName(name); err != nil {
		return "", invalid("%w", err)
	}
	exists, err := h.Exists()
	if err != nil {
		return "", err
	}
	if exists {
		return "", fmt.Errorf("%s is %w: refusing to overwrite its identity", h.Dir, ErrAlreadyInitialised)
	}
	if err := h.EnsureDir(); err != nil {
		return "", err
	}
	d, err := diskstore.Open(h.DatastorePath(), slog.Default())
	if err != nil {
		return "", err
	}
	defer d.Close()
	st := &store{ds: d, log: slog.Default()}
	ctx := context.Background()
	if _, err := st.nodeKey(ctx); err == nil {
		return "", fmt.Errorf("%s holds a node key already: refusing to overwrite it", h.DatastorePath())
	}
	key, err := identity.GenerateKey()
	if err != nil {
		return "", err
	}
	if err := st.setNodeKey(ctx, key); err != nil {
		return "", err
	}
	if err := st.setSelfInfo(ctx, selfInfo{Name: name}); err != nil {
		return "", err
	}
	if err := st.setSchemaVersion(ctx, SchemaVersion); err != nil {
		return "", err
	}
	// The config file is written last: its presence is what marks the
	// home as initialised, so a crash before this point can be retried.
	if err := home.SaveConfig(h.ConfigPath(), home.DefaultConfig()); err != nil {
		return "", err
	}
	return peer.IDFromPrivateKey(key)
}

// Start opens the datastore, starts the libp2p host (entering the network
// if the node is a member) and listens on the API address. Serve the API
// with Serve.
func Start(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Settings.Validate(); err != nil {
		return nil, err
	}
	if cfg.Datastore == nil {
		// LevelDB that reopens itself after a failed write (a full disk)
		// and names the cause of a failed open.
		d, err := diskstore.Open(cfg.Home.DatastorePath(), cfg.Logger.With("component", "datastore"))
		if err != nil {
			return nil, err
		}
		cfg.Datastore = d
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("component", "node"), limits: defaultAPILimits,
		uiWake: make(chan struct{}, 1), stopReq: make(chan struct{})}
	n.store = &store{ds: cfg.Datastore, log: n.log}
	if err := n.start(); err != nil {
		n.Close()
		return nil, err
	}
	var err error
	if n.web, err = newWebUI(n); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) start() error {
	ctx := context.Background()
	if err := n.store.migrate(ctx); err != nil {
		return err
	}
	key, err := n.store.nodeKey(ctx)
	if err != nil {
		return err
	}
	n.key = key
	rtcCfg := rtc.Config{Logger: n.cfg.Logger, LoopbackOnly: n.cfg.MediaLoopbackOnly,
		ICEServers: iceServers(n.cfg.Settings.ICEServers), ICEServersFor: n.linkICEServers}
	if n.cfg.LocalDialsOnly {
		rtcCfg.RemoteIPs = dialrange.AllowedIP
	}
	if n.rtc, err = rtc.NewAPI(rtcCfg); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if n.media, err = newLocalMedia(rtcCfg); err != nil {
		return err
	}
	var libp2pMetrics prometheus.Registerer
	if n.cfg.Settings.MetricsAddr != "" {
		n.metrics = metrics.New()
		n.metrics.Registerer().MustRegister(nodeCollector{n})
		n.metrics.SetLinkSource(n.rtc.LinkStats)
		libp2pMetrics = n.metrics.Registerer()
	}
	n.p2p, err = p2p.New(p2p.Config{
		Metrics:           libp2pMetrics,
		Key:               key,
		ListenAddrs:       n.cfg.Settings.ListenAddrs,
		Ledger:            n.store,
		Events:            events{n},
		Logger:            n.cfg.Logger,
		MDNS:              n.cfg.Settings.MDNS,
		HelloTimeout:      n.cfg.HelloTimeout,
		DiscoveryInterval: n.cfg.DiscoveryInterval,
		Now:               n.cfg.Now,
		NAT:               n.natConfig(),
		LocalDialsOnly:    n.cfg.LocalDialsOnly,
	})
	if err != nil {
		return err
	}
	n.nat = newNATWatch(n)
	if err := n.startTURN(); err != nil {
		return err
	}
	n.turnRenew = newTURNRenewer(n)
	chain, err := n.store.chain(ctx)
	if err != nil {
		return err
	}
	if chain != nil {
		if err := n.enter(ctx, chain, nil); err != nil {
			return err
		}
	}
	n.token, err = home.NewAPIToken()
	if err != nil {
		return err
	}
	n.api, err = net.Listen("tcp", n.cfg.Settings.APIAddr)
	if err != nil {
		return fmt.Errorf("local API on %s: %w", n.cfg.Settings.APIAddr, err)
	}
	if n.metrics != nil {
		if n.metricsLn, err = net.Listen("tcp", n.cfg.Settings.MetricsAddr); err != nil {
			return fmt.Errorf("metrics on %s: %w", n.cfg.Settings.MetricsAddr, err)
		}
	}
	n.checkCapacity()
	return nil
}

// MetricsAddr is the address Prometheus scrapes, "" when metrics are off.
func (n *Node) MetricsAddr() string {
	if n.metricsLn == nil {
		return ""
	}
	return n.metricsLn.Addr().String()
}

// enter starts network services for chain with everything persisted about
// the network, plus extra known peers (an invite's bootstrap list).
func (n *Node) enter(ctx context.Context, chain *identity.Chain, extra []peer.AddrInfo) error {
	revs, err := n.store.revocations(ctx)
	if err != nil {
		return err
	}
	members, err := n.store.members(ctx)
	if err != nil {
		return err
	}
	known, err := n.store.knownPeers(ctx)
	if err != nil {
		return err
	}
	joinBoot, err := n.store.joinBootstrap(ctx)
	if err != nil {
		return err
	}
	known = append(known, joinBoot...)
	known = append(known, n.configBootstrap()...)
	known = append(known, extra...)
	// Always-on nodes among them (and the relays behind members' circuit
	// addresses) carry this node's relay reservations when it is private.
	n.p2p.AddRelays(joinBoot...)
	n.p2p.AddRelays(n.configBootstrap()...)
	n.p2p.AddRelays(extra...)
	// A profile change waits until the network is entered with the
	// profile signed here, and then signs on top of it.
	n.profileMu.Lock()
	defer n.profileMu.Unlock()
	profile, err := n.ownProfile(ctx, chain)
	if err != nil {
		return err
	}
	if err := n.p2p.Enter(p2p.NetworkState{Chain: chain, Profile: profile, Revocations: revs,
		Members: members, KnownPeers: known}); err != nil {
		return err
	}
	return n.startRooms(ctx)
}

func (n *Node) configBootstrap() []peer.AddrInfo {
	var addrs []ma.Multiaddr
	for _, s := range n.cfg.Settings.BootstrapAddrs {
		if a, err := ma.NewMultiaddr(s); err == nil {
			addrs = append(addrs, a)
		}
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		n.log.Warn("ignoring bootstrap addresses without /p2p/ peer IDs", "err", err)
		return nil
	}
	return infos
}

// ownProfile returns the stored signed profile, signing one from the
// user's name and bio if there is none yet for this network.
func (n *Node) ownProfile(ctx context.Context, chain *identity.Chain) (*identity.SignedProfile, error) {
	p, err := n.store.profile(ctx)
	if err != nil {
		return nil, err
	}
	if p != nil && p.Network == chain.Network() {
		return p, nil
	}
	info, err := n.store.selfInfo(ctx)
	if err != nil {
		return nil, err
	}
	if err := identity.ValidateProfileText(info.Name, info.Bio); err != nil {
		// Stored before today's rules: enter with no name rather than
		// not at all, and say how to set one.
		n.log.Warn("the stored name or bio is not allowed any more; set them again with: clubnode profile set", "err", err)
		info = selfInfo{}
	}
	p, err = identity.SignProfile(n.key, identity.Profile{Network: chain.Network(), Peer: n.ID(),
		Name: info.Name, Bio: info.Bio, Support: info.Support, Updated: n.cfg.Now()})
	if err != nil {
		return nil, err
	}
	return p, n.store.setProfile(ctx, p)
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.p2p.ID() }

// P2P is the libp2p side, for the packages built on it.
func (n *Node) P2P() *p2p.Node { return n.p2p }

// APIAddr is the address the local API listens on.
func (n *Node) APIAddr() string { return n.api.Addr().String() }

// APIToken is the token API clients must present.
func (n *Node) APIToken() string { return n.token }

// Serve answers the local API until ctx ends or Shutdown is called,
// having published its address and token in the home folder for the CLI.
// It removes the address file on the way out.
func (n *Node) Serve(ctx context.Context) error {
	if err := home.WriteAPIEndpoint(n.cfg.Home, n.APIAddr(), n.token); err != nil {
		return err
	}
	defer func() {
		if err := home.RemoveAPIFile(n.cfg.Home); err != nil {
			n.log.Warn("could not remove the API address file", "err", err)
		}
	}()
	srv := n.newAPIServer(n.httpHandler())
	ui := group.New(ctx)
	defer ui.Close()
	n.runUI(ui)
	if n.metricsLn != nil {
		scrape := group.New(ctx)
		defer scrape.Close()
		scrape.Go(func(ctx context.Context) {
			if err := n.metrics.Serve(ctx, n.metricsLn, n.log); err != nil {
				n.log.Error("metrics stopped", "err", err)
			}
		})
		n.log.Info("metrics listening", "addr", n.MetricsAddr(), "path", metrics.Path)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(apiconn.NewListener(n.api, n.limits.maxUntrusted, n.limits.trustOwner)) }()
	n.log.Info("local API listening", "addr", n.APIAddr())
	select {
	case err := <-errc:
		return fmt.Errorf("local API: %w", err)
	case <-ctx.Done():
	case <-n.stopReq:
	}
	// The event stream stops first on the way out, ending open streams
	// so that Shutdown need not wait for browsers to hang up.
	ui.Stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	<-errc
	return nil
}

// Close stops the node and closes its datastore. Safe to call twice.
func (n *Node) Close() error {
	var errs []error
	n.once.Do(func() {
		if n.api != nil {
			_ = n.api.Close()
		}
		if n.metricsLn != nil {
			_ = n.metricsLn.Close()
		}
		if n.media != nil {
			n.media.close()
		}
		if svc := n.rooms.Load(); svc != nil {
			svc.Close()
		}
		if n.turnRenew != nil {
			n.turnRenew.close()
		}
		if n.nat != nil {
			n.nat.close()
		}
		if n.p2p != nil {
			n.closeTURN()
			errs = append(errs, n.p2p.Close())
		}
		if n.cfg.Datastore != nil {
			errs = append(errs, n.cfg.Datastore.Close())
		}
	})
	return errors.Join(errs...)
}

// events persists what p2p learns.
type events struct{ n *Node }

func (e events) MemberSeen(m p2p.Member, addrs []ma.Multiaddr) {
	defer e.n.wakeUI()
	if len(addrs) > 0 {
		e.n.nat.poke() // a member verified: maybe an always-on node to test against
	}
	if err := e.n.store.putMemberSeen(context.Background(), m, addrs, e.n.cfg.Now()); err != nil {
		e.n.log.Error("could not store member", "peer", m.Chain.Member(), "err", err)
	}
}

func (e events) RevocationReceived(r *identity.SignedRevocation) {
	defer e.n.wakeUI()
	if err := e.n.store.putRevocation(context.Background(), r); err != nil {
		e.n.log.Error("could not store revocation", "subject", r.Subject, "err", err)
	}
}

// wakeUI tells the event stream the node's state changed. It never blocks.
func (n *Node) wakeUI() {
	select {
	case n.uiWake <- struct{}{}:
	default:
	}
}
