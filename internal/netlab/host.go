package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
)

// NAT is what stands between a host and the internet bridge.
type NAT int

const (
	// None: the host is on the internet bridge with a public address.
	None NAT = iota
	// PortPreserving is a home router that keeps source ports
	// (endpoint-independent mapping) and lets in only replies from the
	// exact address and port a packet went to.
	PortPreserving
	// Symmetric is a home router that picks a new random port for every
	// new destination; it filters like PortPreserving.
	Symmetric
)

func (n NAT) String() string {
	switch n {
	case None:
		return "no NAT"
	case PortPreserving:
		return "port-preserving NAT"
	case Symmetric:
		return "symmetric NAT"
	}
	return "NAT(" + strconv.Itoa(int(n)) + ")"
}

// Host is a machine of the lab: a public host, a home computer or a home
// router. Its fields are read-only.
type Host struct {
	Name      string
	Namespace string
	// Addr is the address of the host's own interface (eth0, or a
	// router's WAN side).
	Addr netip.Addr
	// Public is the address the internet sees the host's packets come
	// from: Addr for a public host or a router, the router's WAN address
	// for a home computer.
	Public netip.Addr
	// NAT is the kind of router in front of a home computer, or the kind
	// a router is; None for a public host.
	NAT NAT
	// Router is a home computer's router; nil for the others.
	Router *Host
}

func (h *Host) String() string { return h.Name + " (" + h.Addr.String() + ", " + h.NAT.String() + ")" }

// PublicHost adds a host with a public address on the internet bridge, as
// an always-on node in a data centre has.
func (l *Lab) PublicHost(name string) *Host {
	l.t.Helper()
	h, err := l.publicHost(name)
	if err != nil {
		l.t.Fatalf("netlab: public host %s: %v", name, err)
	}
	return h
}

func (l *Lab) publicHost(name string) (*Host, error) {
	if err := l.reserve(name); err != nil {
		return nil, err
	}
	l.mu.Lock()
	n := l.publics
	l.publics++
	l.mu.Unlock()
	if firstPublic+n > lastPublic {
		return nil, fmt.Errorf("at most %d public hosts", lastPublic-firstPublic+1)
	}
	addr := netip.MustParseAddr(internetPrefix + strconv.Itoa(firstPublic+n))
	h := &Host{Name: name, Namespace: l.name + "-" + name, Addr: addr, Public: addr, NAT: None}
	if err := l.addNamespace(h.Namespace); err != nil {
		return nil, err
	}
	if err := l.plug(h.Namespace, "eth0", addr); err != nil {
		return nil, err
	}
	l.register(h)
	return h, nil
}

// Home adds a home: a computer called name on its own LAN 198.18.N.0/24
// (at 198.18.N.2) behind a router called name+"gw" (198.18.N.1 inside,
// 203.0.113.x outside) doing the given kind of NAT. It returns the
// computer; its Router field is the router.
func (l *Lab) Home(name string, kind NAT) *Host {
	l.t.Helper()
	h, err := l.home(name, kind)
	if err != nil {
		l.t.Fatalf("netlab: home %s: %v", name, err)
	}
	return h
}

func (l *Lab) home(name string, kind NAT) (*Host, error) {
	if kind != PortPreserving && kind != Symmetric {
		return nil, fmt.Errorf("%v is not a kind of home router", kind)
	}
	if err := l.reserve(name); err != nil {
		return nil, err
	}
	gwName := name + "gw"
	if err := l.reserve(gwName); err != nil {
		return nil, err
	}
	l.mu.Lock()
	n := l.homes
	l.homes++
	l.mu.Unlock()
	if n >= maxHomes {
		return nil, fmt.Errorf("at most %d homes", maxHomes)
	}
	wan := netip.MustParseAddr(internetPrefix + strconv.Itoa(firstRouter+n))
	lan := "198.18." + strconv.Itoa(n+1) + "."
	gw := &Host{Name: gwName, Namespace: l.name + "-" + gwName, Addr: wan, Public: wan, NAT: kind}
	h := &Host{Name: name, Namespace: l.name + "-" + name,
		Addr: netip.MustParseAddr(lan + "2"), Public: wan, NAT: kind, Router: gw}
	if err := l.addNamespace(gw.Namespace); err != nil {
		return nil, err
	}
	if err := l.addNamespace(h.Namespace); err != nil {
		return nil, err
	}
	if err := l.plug(gw.Namespace, "wan", wan); err != nil {
		return nil, err
	}
	if err := ipSteps(
		step{gw.Namespace, "link add lan type veth peer name eth0 netns " + h.Namespace},
		step{gw.Namespace, "addr add " + lan + "1/24 dev lan"},
		step{gw.Namespace, "link set lan up"},
		step{h.Namespace, "addr add " + lan + "2/24 dev eth0"},
		step{h.Namespace, "link set eth0 up"},
		step{h.Namespace, "route add default via " + lan + "1"},
	); err != nil {
		return nil, err
	}
	if err := startNAT(gw.Namespace, kind); err != nil {
		return nil, err
	}
	l.register(gw)
	l.register(h)
	return h, nil
}

// Command is exec.CommandContext for a program that runs inside the host's
// namespace (through `ip netns exec`, which execs it: the Cmd's process is
// the program itself). Whatever still runs inside the lab when it closes is
// killed.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Namespace, name}, args...)...)
}

// ListenPacket is net.ListenPacket inside the host.
func (h *Host) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := h.Do(func() (err error) {
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// Listen is net.Listen inside the host.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen(network, address)
		return err
	})
	return ln, err
}

// DialContext is net.Dialer.DialContext from inside the host, for an
// address with a literal IP (a name lookup would run on other threads, in
// the test's own namespace). It fits http.Transport.DialContext, so a test
// can talk to an API that listens on a host's loopback.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if ap, err := netip.ParseAddrPort(address); err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("netlab: dial %q from %s: want a literal IPv4 address and port", address, h.Name)
	}
	var c net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}
