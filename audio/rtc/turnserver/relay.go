package turnserver

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/pion/turn/v5"
)

// relayGenerator hands pion relayed UDP sockets from the configured port
// range, wrapped so that they count and filter what they carry. TCP relays
// (RFC 6062) are refused: audio is UDP.
type relayGenerator struct {
	s     *Server
	inner *turn.RelayAddressGeneratorPortRange
}

var errNoTCP = errors.New("turnserver: TCP relays are not offered")

func (g *relayGenerator) Validate() error { return g.inner.Validate() }

func (g *relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if p := conf.RequestedPort; p != 0 && (p < int(g.inner.MinPort) || p > int(g.inner.MaxPort)) {
		return nil, nil, fmt.Errorf("turnserver: requested port %d is outside the relay range", p)
	}
	conn, addr, err := g.inner.AllocatePacketConn(conf)
	if err != nil || conf.UserID == "" {
		// No user: pion probing for a free even port, a socket it closes
		// at once.
		return conn, addr, err
	}
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.members[conf.UserID]
	if m == nil || m.revoked || s.closed {
		conn.Close()
		return nil, nil, fmt.Errorf("turnserver: no relay for %s", conf.UserID)
	}
	rc := &relayConn{PacketConn: conn, s: s, m: m}
	m.conns[rc] = struct{}{}
	return rc, addr, nil
}

func (g *relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCP
}

func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCP
}

// relayConn is one allocation's relayed socket. It passes only packets to
// and from its member's allowed peers (pion's permissions say the same,
// but only change when they expire) and counts what it relays.
type relayConn struct {
	net.PacketConn
	s    *Server
	m    *member
	once sync.Once
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || !c.m.allows(ua.IP) {
		c.s.stats.dropped.Add(1)
		return len(p), nil // as a filtering router would: silently
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	if err == nil {
		c.s.stats.toPeers.add(n)
	}
	return n, err
}

func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if ua, ok := addr.(*net.UDPAddr); ok && c.m.allows(ua.IP) {
			c.s.stats.fromPeers.add(n)
			return n, addr, nil
		}
		c.s.stats.dropped.Add(1)
	}
}

func (c *relayConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.m.conns, c)
		c.s.mu.Unlock()
	})
	return c.PacketConn.Close()
}

// flow counts packets and bytes one way.
type flow struct{ packets, bytes atomic.Uint64 }

func (f *flow) add(n int) {
	f.packets.Add(1)
	f.bytes.Add(uint64(n))
}

type counters struct {
	allocations       atomic.Uint64
	authRefused       atomic.Uint64
	quotaRefused      atomic.Uint64
	permissionRefused atomic.Uint64
	renewedUse        atomic.Uint64
	dropped           atomic.Uint64
	toPeers           flow
	fromPeers         flow
}

// Stats are the server's counters, for metrics. All but Allocations only
// grow.
type Stats struct {
	// Allocations is how many relays are open now; AllocationsTotal how
	// many were ever made.
	Allocations      int
	AllocationsTotal uint64
	// AuthRefused counts requests refused for their credentials:
	// malformed, expired, revoked, unknown or with a wrong password.
	AuthRefused uint64
	// RenewedUse counts requests for live relays accepted with expired
	// credentials because the member has renewed them since.
	RenewedUse uint64
	// QuotaRefused counts Allocate requests beyond a limit.
	QuotaRefused uint64
	// PermissionRefused counts CreatePermission and ChannelBind requests
	// for a peer the member is not allowed to reach.
	PermissionRefused uint64
	// Dropped counts relayed packets dropped because their peer was not
	// (or no longer) allowed.
	Dropped uint64
	// Payload relayed from members to their peers, and back.
	PacketsToPeers, BytesToPeers     uint64
	PacketsFromPeers, BytesFromPeers uint64
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	active := s.active
	s.mu.Unlock()
	c := &s.stats
	return Stats{
		Allocations: active, AllocationsTotal: c.allocations.Load(),
		AuthRefused: c.authRefused.Load(), RenewedUse: c.renewedUse.Load(), QuotaRefused: c.quotaRefused.Load(),
		PermissionRefused: c.permissionRefused.Load(), Dropped: c.dropped.Load(),
		PacketsToPeers: c.toPeers.packets.Load(), BytesToPeers: c.toPeers.bytes.Load(),
		PacketsFromPeers: c.fromPeers.packets.Load(), BytesFromPeers: c.fromPeers.bytes.Load(),
	}
}
