package natkind

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"go.uber.org/goleak"
)

// responder is a STUN server on 127.0.0.1 that reports the sender's
// address with its port moved by shift (a NAT's mapping, as seen by this
// server); silent ones never answer.
func responder(t *testing.T, shift int, silent bool) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() { // ends when the cleanup closes conn
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if silent || req.Decode() != nil {
				continue
			}
			resp, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: from.IP, Port: from.Port + shift}, stun.Fingerprint)
			if err == nil {
				_, _ = conn.WriteToUDP(resp.Raw, from)
			}
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestProbeTellsMappings(t *testing.T) {
	defer goleak.VerifyNone(t)
	loop := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	cases := []struct {
		name     string
		shifts   [2]int
		silent   bool
		localIPs []netip.Addr
		want     Kind
	}{
		{"no NAT", [2]int{0, 0}, false, loop, Public},
		{"port-preserving NAT", [2]int{0, 0}, false, nil, EndpointIndependent},
		{"one mapping, another port", [2]int{7, 7}, false, loop, EndpointIndependent},
		{"symmetric NAT", [2]int{1, 2}, false, loop, Symmetric},
		{"one server silent", [2]int{0, 0}, true, loop, Unknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			servers := []netip.AddrPort{responder(t, c.shifts[0], false), responder(t, c.shifts[1], c.silent)}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			start := time.Now()
			r, err := Probe(ctx, servers, c.localIPs)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != c.want {
				t.Fatalf("kind %s (mapped %v, local port %d), want %s", r.Kind, r.Mapped, r.Local, c.want)
			}
			if !c.silent && time.Since(start) > 500*time.Millisecond {
				t.Errorf("answered servers took %s: the probe should end when all answered", time.Since(start))
			}
		})
	}
}

func TestProbeNeedsTwoServers(t *testing.T) {
	r, err := Probe(context.Background(), []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}, nil)
	if err != nil || r.Kind != Unknown {
		t.Fatalf("one server: %v, %v; want unknown at once", r.Kind, err)
	}
}

func TestParseServer(t *testing.T) {
	good := map[string]string{
		"stun:203.0.113.1:3478":               "203.0.113.1:3478",
		"turn:203.0.113.1:3478?transport=udp": "203.0.113.1:3478",
		"turn:203.0.113.1:3478":               "203.0.113.1:3478",
		"stun:[::ffff:203.0.113.1]:3478":      "203.0.113.1:3478",
	}
	for in, want := range good {
		got, err := ParseServer(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseServer(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"stun:[:]3", "stun:example.org:3478", "turn:203.0.113.1:3478?transport=tcp",
		"stuns:203.0.113.1:3478", "stun:0.0.0.0:3478", "stun:203.0.113.1:0", "stun:224.0.0.1:3478",
		"stun:203.0.113.1", "stun:" + string(make([]byte, MaxURL))} {
		if got, err := ParseServer(in); err == nil {
			t.Errorf("ParseServer(%q) = %v, want an error", in, got)
		}
	}
}

// FuzzParseServer: the URLs come from other nodes; nothing may hang or
// panic, and what is accepted is a unicast address and port.
func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"stun:[:]3", "stun:203.0.113.1:3478", "turn:203.0.113.1:3478?transport=udp", "turn:[::1]:1?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := ParseServer(s)
		if err != nil {
			return
		}
		if len(s) > MaxURL || ap.Port() == 0 || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() {
			t.Fatalf("accepted %q as %v", s, ap)
		}
	})
}
