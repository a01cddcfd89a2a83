// Package natkind finds out how the NAT in front of a node maps its UDP
// ports, which go-libp2p does not tell (0.51 has no NAT behaviour
// discovery): it sends STUN binding requests from one local socket to
// two or more STUN server addresses and compares the mapped addresses
// they see (RFC 4787's mapping test, as RFC 5780 does it). The addresses
// are those of the always-on nodes' servers, each of which answers on two
// UDP ports (RFC 5780's alternate port): a NAT that maps per destination
// address and port gives each port its own mapping, so one always-on
// node is enough to tell a symmetric NAT.
//
// The same address for all is an endpoint-independent mapping: a hole
// punched towards one peer is the address every peer sees, so ICE and
// DCUtR get through. Different ports (or addresses) is a symmetric NAT:
// each destination gets a mapping of its own, which no peer can guess,
// so only a relay (TURN, a circuit relay) reaches the node. Fewer than
// two answers say nothing: unknown. (Two ports of one server cannot
// tell an address-dependent mapping, one per destination address only,
// from an endpoint-independent one; servers on two addresses can.)
package natkind

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pion/stun/v4"
)

// Kind is what the mapping test found.
type Kind string

const (
	// Unknown: fewer than two servers answered (or no test yet).
	Unknown Kind = "unknown"
	// Public: no NAT, the servers see the node's own address and port.
	Public Kind = "public"
	// EndpointIndependent: one mapping for every destination; holes can
	// be punched.
	EndpointIndependent Kind = "endpoint-independent"
	// Symmetric: a mapping per destination; only a relay gets through.
	Symmetric Kind = "symmetric"
)

// MaxURL bounds a server URL given to ParseServer: anything longer is
// not a "stun:IP:port" a node would announce.
const MaxURL = 128

// ParseServer is the UDP address of a STUN or TURN URL of the form
// "stun:IP:port" or "turn:IP:port?transport=udp", as always-on nodes
// give them (turnserver.Server.URLs). The URLs come from other nodes, so
// they are parsed here with netip rather than by pion/stun's ParseURI,
// which hangs or panics on inputs such as "stun:[:]3". Host names are
// refused: a node announces its address, and resolving a name a peer
// gave would send traffic wherever that peer likes.
func ParseServer(s string) (netip.AddrPort, error) {
	if len(s) > MaxURL {
		return netip.AddrPort{}, fmt.Errorf("STUN server URL of %d bytes: at most %d", len(s), MaxURL)
	}
	rest, ok := strings.CutPrefix(s, "stun:")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "turn:"); !ok {
			return netip.AddrPort{}, fmt.Errorf("STUN server URL %q: want stun: or turn:", s)
		}
		var query string
		rest, query, _ = strings.Cut(rest, "?")
		if query != "" && query != "transport=udp" {
			return netip.AddrPort{}, fmt.Errorf("STUN server URL %q: only UDP is probed", s)
		}
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("STUN server URL %q: %w", s, err)
	}
	if ap.Port() == 0 || !ap.Addr().IsValid() || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() {
		return netip.AddrPort{}, fmt.Errorf("STUN server URL %q: not a unicast address and port", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// Result is one mapping test.
type Result struct {
	Kind Kind
	// Local is the socket's port; Mapped is what each server that
	// answered saw, by server.
	Local  uint16
	Mapped map[netip.AddrPort]netip.AddrPort
}

// Probe runs the mapping test against servers (at least two different
// addresses, MaxAddrs at most: two ports of one server will do) until
// every server answered or
// ctx ends. localIPs are the node's own addresses, which tell Public from
// a port-preserving NAT. An error is returned only when no socket could be
// opened: too few answers is Kind Unknown.
func Probe(ctx context.Context, servers []netip.AddrPort, localIPs []netip.Addr) (Result, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return Result{Kind: Unknown}, fmt.Errorf("STUN socket: %w", err)
	}
	defer conn.Close()
	p := &prober{conn: conn, asked: map[[stun.TransactionIDSize]byte]netip.AddrPort{},
		res: Result{Kind: Unknown, Local: conn.LocalAddr().(*net.UDPAddr).AddrPort().Port(),
			Mapped: map[netip.AddrPort]netip.AddrPort{}}}
	for _, s := range servers {
		if s.Addr().Is4() && len(p.servers) < MaxAddrs && !slices.Contains(p.servers, s) {
			p.servers = append(p.servers, s)
		}
	}
	if len(p.servers) < 2 {
		return p.res, nil
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	p.run(ctx)
	p.res.Kind = classify(p.res, localIPs)
	return p.res, nil
}

const (
	// MaxServers is how many servers (always-on nodes) one test asks at
	// most, PortsPerServer ports of each.
	MaxServers     = 4
	PortsPerServer = 2
	// MaxAddrs is how many addresses one test sends to at most.
	MaxAddrs = MaxServers * PortsPerServer
)

// retransmit is how often an unanswered binding request is sent again:
// UDP loses packets, and a NAT keeps the mapping for its socket anyway.
const retransmit = 300 * time.Millisecond

type prober struct {
	conn    *net.UDPConn
	servers []netip.AddrPort
	asked   map[[stun.TransactionIDSize]byte]netip.AddrPort
	res     Result
}

// run sends binding requests to every server not answered yet, every
// retransmit, and reads answers between.
func (p *prober) run(ctx context.Context) {
	buf := make([]byte, 1500)
	for ctx.Err() == nil && len(p.res.Mapped) < len(p.servers) {
		p.send()
		_ = p.conn.SetReadDeadline(time.Now().Add(retransmit))
		for ctx.Err() == nil && len(p.res.Mapped) < len(p.servers) {
			n, from, err := p.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				break // the retransmit timer or ctx
			}
			p.answer(buf[:n], from)
		}
	}
}

func (p *prober) send() {
	for _, s := range p.servers {
		if _, ok := p.res.Mapped[s]; ok {
			continue
		}
		m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		if err != nil {
			continue
		}
		p.asked[m.TransactionID] = s
		_, _ = p.conn.WriteToUDPAddrPort(m.Raw, s)
	}
}

// answer takes a binding success from the server it was asked of.
func (p *prober) answer(b []byte, from netip.AddrPort) {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil || m.Type != stun.BindingSuccess {
		return
	}
	s, ok := p.asked[m.TransactionID]
	if !ok || netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) != s {
		return // not ours, or from elsewhere than the server asked
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(m); err != nil {
		return
	}
	ip, ok := netip.AddrFromSlice(xor.IP)
	if !ok {
		return
	}
	p.res.Mapped[s] = netip.AddrPortFrom(ip.Unmap(), uint16(xor.Port))
}

// classify compares what the servers saw.
func classify(r Result, localIPs []netip.Addr) Kind {
	if len(r.Mapped) < 2 {
		return Unknown
	}
	var first netip.AddrPort
	for _, m := range r.Mapped {
		if !first.IsValid() {
			first = m
			continue
		}
		if m != first {
			return Symmetric
		}
	}
	if first.Port() == r.Local {
		for _, ip := range localIPs {
			if ip.Unmap() == first.Addr() {
				return Public
			}
		}
	}
	return EndpointIndependent
}
