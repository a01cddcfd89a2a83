package turnserver

import (
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// fakeClock is a clock the test moves by hand, for credential expiry.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// newServer starts a server on a free loopback port, closed when the test
// ends. cfg's zero fields get the defaults.
func newServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	cfg.Listen = netip.AddrPortFrom(loopback, 0)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// newClient is a pion TURN client of s with the given credentials, on its
// own loopback socket, closed when the test ends.
func newClient(t testing.TB, s *Server, username, password string) *turn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: s.Addr().String(),
		TURNServerAddr: s.Addr().String(),
		Username:       username,
		Password:       password,
		Conn:           conn,
		RTO:            100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

// allocate makes a relay for creds, failing the test if it cannot.
func allocate(t testing.TB, s *Server, creds Credentials) net.PacketConn {
	t.Helper()
	relay, err := newClient(t, s, creds.Username, creds.Password).Allocate()
	if err != nil {
		t.Fatalf("allocate as %s: %v", creds.Username, err)
	}
	t.Cleanup(func() { relay.Close() })
	return relay
}

// peer is a plain UDP socket on addr:0, a room peer on the internet.
func peer(t testing.TB, addr string) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.(*net.UDPConn)
}

func mustIssue(t testing.TB, s *Server, user string) Credentials {
	t.Helper()
	c, err := s.Issue(user)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// read reads one datagram within a deadline.
func read(t testing.TB, c net.PacketConn) (string, net.Addr) {
	t.Helper()
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read on %s: %v", c.LocalAddr(), err)
	}
	return string(buf[:n]), from
}
