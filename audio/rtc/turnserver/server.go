// Package turnserver is the STUN/TURN server an always-on node runs for
// its network's members (pion/turn underneath). Members get short-lived
// credentials from the node over libp2p, after proving membership; the
// server relays UDP only, and an allocation reaches only the peers the node
// allowed for that member (its room's peers), never arbitrary addresses.
//
// Three layers keep the relay to its purpose: the credentials (the TURN
// REST API's "EXPIRY:USER" username with an HMAC password, refused once
// expired or revoked), TURN permissions (CreatePermission and ChannelBind
// succeed only for allowed peers) and the relayed sockets themselves, which
// drop every packet to or from an address no longer allowed, so narrowing a
// member's peers takes effect at once rather than when permissions expire.
package turnserver

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/turn/v5"

	"github.com/clubnode/clubnode/internal/pionlog"
)

// Defaults of Config.
const (
	DefaultRealm                 = "clubnode"
	DefaultCredentialTTL         = time.Hour
	DefaultMaxAllocationsPerUser = 4
	DefaultMaxAllocations        = 256
	DefaultMaxPeersPerUser       = 64
	DefaultRelayPortMin          = 49152
	DefaultRelayPortMax          = 65535
)

// Config configures a Server. Only Listen is required.
type Config struct {
	// Listen is the UDP address for STUN and TURN, e.g. 0.0.0.0:3478.
	// Port 0 picks a free port (see Server.Addr).
	Listen netip.AddrPort
	// AltPort, if not 0, is a second UDP port on Listen's address the
	// same server answers on (STUN and TURN alike), so that one server
	// shows a member's NAT mapping from two destinations (RFC 5780's
	// alternate port): a symmetric NAT maps each its own port, which a
	// node with one always-on node could not tell otherwise
	// (internal/natkind). -1 picks a free port. If the port cannot be
	// had, the server runs on Listen alone (see Server.AltAddr).
	AltPort int
	// PublicIP is where members reach the server and its relays: the
	// address in the credentials' URLs and in relayed candidates. It
	// defaults to Listen's address, which must then be a specific one.
	PublicIP netip.Addr
	// RelayPortMin and RelayPortMax bound the relayed ports (inclusive),
	// for firewalls; the defaults are the dynamic range 49152-65535.
	RelayPortMin, RelayPortMax uint16
	Realm                      string
	// CredentialTTL is how long issued credentials are accepted.
	CredentialTTL time.Duration
	// MaxAllocationsPerUser and MaxAllocations bound relays per member
	// and in all; an Allocate beyond them gets 486 (quota reached).
	MaxAllocationsPerUser, MaxAllocations int
	// MaxPeersPerUser bounds the addresses AllowPeers takes for a member.
	MaxPeersPerUser int
	// Secret keys the credentials' HMAC. Empty draws 32 random bytes:
	// credentials then die with the server, which short-lived ones may.
	Secret []byte
	Logger *slog.Logger
	// Now is the clock credentials are checked against; nil is time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() error {
	if !c.Listen.IsValid() || !c.Listen.Addr().Is4() {
		return fmt.Errorf("turnserver: listen address %q: want an IPv4 address and port", c.Listen)
	}
	if !c.PublicIP.IsValid() {
		if c.Listen.Addr().IsUnspecified() {
			return errors.New("turnserver: listening on every interface needs a PublicIP to advertise")
		}
		c.PublicIP = c.Listen.Addr()
	}
	if !c.PublicIP.Is4() || c.PublicIP.IsUnspecified() {
		return fmt.Errorf("turnserver: public IP %s: want a specific IPv4 address", c.PublicIP)
	}
	if c.AltPort < -1 || c.AltPort > 65535 {
		return fmt.Errorf("turnserver: second port %d: want -1..65535", c.AltPort)
	}
	if c.RelayPortMin == 0 && c.RelayPortMax == 0 {
		c.RelayPortMin, c.RelayPortMax = DefaultRelayPortMin, DefaultRelayPortMax
	}
	if c.RelayPortMin == 0 || c.RelayPortMin > c.RelayPortMax {
		return fmt.Errorf("turnserver: relay ports %d-%d: want 1 <= min <= max", c.RelayPortMin, c.RelayPortMax)
	}
	setDefault(&c.Realm, DefaultRealm)
	setDefault(&c.CredentialTTL, DefaultCredentialTTL)
	setDefault(&c.MaxAllocationsPerUser, DefaultMaxAllocationsPerUser)
	setDefault(&c.MaxAllocations, DefaultMaxAllocations)
	setDefault(&c.MaxPeersPerUser, DefaultMaxPeersPerUser)
	if c.CredentialTTL < time.Second || c.MaxAllocationsPerUser < 0 || c.MaxAllocations < 0 || c.MaxPeersPerUser < 0 {
		return errors.New("turnserver: credential TTL under a second or a negative limit")
	}
	if len(c.Secret) == 0 {
		c.Secret = make([]byte, 32)
		if _, err := rand.Read(c.Secret); err != nil {
			return fmt.Errorf("turnserver: secret: %w", err)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Server is a running STUN/TURN server. Its methods are safe for
// concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	conn  net.PacketConn
	addr  netip.AddrPort
	alt   netip.AddrPort // the second port's address, if it has one
	turn  *turn.Server
	stats counters

	mu      sync.Mutex
	members map[string]*member
	byTuple map[string]*member // allocation (client address, server address) -> its member
	active  int                // allocations
	closed  bool
	drained chan struct{} // closed when Close has seen the last allocation go
}

// New starts a server listening on cfg.Listen.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	conn, err := net.ListenPacket("udp4", cfg.Listen.String())
	if err != nil {
		return nil, fmt.Errorf("turnserver: listen: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "turn"), conn: conn,
		addr:    conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		members: map[string]*member{}, byTuple: map[string]*member{}, drained: make(chan struct{})}
	conns := []turn.PacketConnConfig{s.packetConnConfig(conn)}
	if alt := s.listenAlt(); alt != nil {
		s.alt = alt.LocalAddr().(*net.UDPAddr).AddrPort()
		conns = append(conns, s.packetConnConfig(alt))
	}
	s.turn, err = turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		LoggerFactory: pionlog.Factory(s.log),
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.quota,
		EventHandler: turn.EventHandler{
			OnAuth:              s.onAuth,
			OnAllocationCreated: s.onAllocationCreated,
			OnAllocationDeleted: s.onAllocationDeleted,
		},
		PacketConnConfigs: conns,
	})
	if err != nil {
		for _, c := range conns {
			c.PacketConn.Close()
		}
		return nil, fmt.Errorf("turnserver: %w", err)
	}
	s.log.Info("TURN server listening", "addr", s.addr, "alt", s.alt, "public", cfg.PublicIP,
		"relay_ports", fmt.Sprintf("%d-%d", cfg.RelayPortMin, cfg.RelayPortMax))
	return s, nil
}

// listenAlt opens the second port (Config.AltPort), or nothing: without
// it the server still relays, only the NAT test of a node that knows no
// other always-on node stays inconclusive.
func (s *Server) listenAlt() net.PacketConn {
	port := s.cfg.AltPort
	switch {
	case port == 0:
		return nil
	case port < 0:
		port = 0
	}
	conn, err := net.ListenPacket("udp4", netip.AddrPortFrom(s.cfg.Listen.Addr(), uint16(port)).String())
	if err != nil {
		s.log.Warn("TURN server: no second STUN port", "port", s.cfg.AltPort, "err", err)
		return nil
	}
	return conn
}

// packetConnConfig serves STUN and TURN on conn. The permission
// handler knows allocations by client and server address, this conn's.
func (s *Server) packetConnConfig(conn net.PacketConn) turn.PacketConnConfig {
	local := conn.LocalAddr().String()
	return turn.PacketConnConfig{
		PacketConn: conn,
		RelayAddressGenerator: &relayGenerator{s: s, inner: &turn.RelayAddressGeneratorPortRange{
			RelayAddress: net.IP(s.cfg.PublicIP.AsSlice()),
			Address:      s.cfg.Listen.Addr().String(),
			MinPort:      s.cfg.RelayPortMin,
			MaxPort:      s.cfg.RelayPortMax,
		}},
		PermissionHandler: func(client net.Addr, peer net.IP) bool { return s.permit(client.String()+"|"+local, peer) },
	}
}

// Addr is the address the server listens on.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// AltAddr is the second port's address (Config.AltPort); invalid when
// the server has none.
func (s *Server) AltAddr() netip.AddrPort { return s.alt }

// STUNURLs are the server's STUN URLs, as members reach it: its port,
// then the second port if it has one. Members ask for them to test their
// NAT (internal/natkind); ICE needs only URLs.
func (s *Server) STUNURLs() []string {
	out := []string{"stun:" + net.JoinHostPort(s.cfg.PublicIP.String(), strconv.Itoa(int(s.addr.Port())))}
	if s.alt.IsValid() {
		out = append(out, "stun:"+net.JoinHostPort(s.cfg.PublicIP.String(), strconv.Itoa(int(s.alt.Port()))))
	}
	return out
}

// URLs are the ICE server URLs of this server, as members reach it.
func (s *Server) URLs() []string {
	hp := net.JoinHostPort(s.cfg.PublicIP.String(), strconv.Itoa(int(s.addr.Port())))
	return []string{"stun:" + hp, "turn:" + hp + "?transport=udp"}
}

// Close stops the server and every allocation, and waits (a second at
// most) until pion has let go of the relayed sockets.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.active == 0 {
		close(s.drained)
	}
	s.mu.Unlock()
	err := s.turn.Close()
	select {
	case <-s.drained:
	case <-time.After(time.Second):
		s.log.Warn("TURN allocations still open a second after close")
	}
	if err != nil {
		return fmt.Errorf("turnserver: close: %w", err)
	}
	return nil
}
