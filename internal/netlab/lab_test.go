package netlab_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clubnode/clubnode/internal/netlab"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Behind a port-preserving router, a socket is seen from the internet at
// the router's address with its own port, whatever it sends to.
func TestPortPreservingKeepsTheSourcePort(t *testing.T) {
	lab := netlab.New(t)
	pub := lab.PublicHost("pub")
	alice := lab.Home("alice", netlab.PortPreserving)
	r1, r2 := reflector(t, pub, 3478), reflector(t, pub, 3479)

	conn := udpSocket(t, alice)
	seen1, seen2 := observed(t, conn, r1), observed(t, conn, r2)
	t.Logf("alice %s:%d is seen as %s and %s", alice.Addr, localPort(conn), seen1, seen2)
	if seen1.Addr() != alice.Router.Addr || alice.Public != alice.Router.Addr {
		t.Fatalf("seen from %s, want the router's WAN address %s", seen1.Addr(), alice.Router.Addr)
	}
	if seen1.Port() != localPort(conn) || seen2 != seen1 {
		t.Fatalf("seen as %s and %s, want %s:%d for both", seen1, seen2, alice.Router.Addr, localPort(conn))
	}
}

// Behind a symmetric router the same socket gets another port for every
// destination, so what one peer observed is no use to another.
func TestSymmetricChangesThePortPerDestination(t *testing.T) {
	lab := netlab.New(t)
	pub := lab.PublicHost("pub")
	dave := lab.Home("dave", netlab.Symmetric)
	r1, r2 := reflector(t, pub, 3478), reflector(t, pub, 3479)

	conn := udpSocket(t, dave)
	seen1, seen2 := observed(t, conn, r1), observed(t, conn, r2)
	t.Logf("dave %s:%d is seen as %s and %s", dave.Addr, localPort(conn), seen1, seen2)
	if seen1.Addr() != dave.Router.Addr || seen2.Addr() != dave.Router.Addr {
		t.Fatalf("seen from %s and %s, want the router's WAN address %s", seen1.Addr(), seen2.Addr(), dave.Router.Addr)
	}
	if seen1.Port() == seen2.Port() {
		t.Fatalf("the same port %d for two destinations: not a symmetric NAT", seen1.Port())
	}
	// The mapping stays for its destination: asking again gives the same.
	if again := observed(t, conn, r1); again != seen1 {
		t.Fatalf("second look from the same destination: %s, first %s", again, seen1)
	}
}

// A home router lets in only replies: UDP from another port or another
// host to a live mapping is dropped at the router.
func TestUnsolicitedUDPIsDropped(t *testing.T) {
	lab := netlab.New(t)
	pub := lab.PublicHost("pub")
	stranger := lab.PublicHost("stranger")
	alice := lab.Home("alice", netlab.PortPreserving)
	refl := reflector(t, pub, 3478)

	conn := udpSocket(t, alice)
	mapping := net.UDPAddrFromAddrPort(observed(t, conn, refl))
	// The right host from another port, and another host.
	fromPub, fromStranger := udpSocket(t, pub), udpSocket(t, stranger)

	before := inputDrops(t, alice.Router)
	for _, c := range []net.PacketConn{fromPub, fromStranger} {
		if _, err := c.WriteTo([]byte("unsolicited"), mapping); err != nil {
			t.Fatal(err)
		}
	}
	// Solicited: a reflector reply (alice asks again), which must be the
	// first thing alice reads.
	if _, err := conn.WriteTo([]byte("again"), net.UDPAddrFromAddrPort(refl)); err != nil {
		t.Fatal(err)
	}
	text, from, err := readFrom(conn, 5*time.Second)
	if err != nil || from != refl {
		t.Fatalf("alice read %q from %s (%v), want the reflector's answer from %s", text, from, err, refl)
	}
	if dropped := inputDrops(t, alice.Router) - before; dropped < 2 {
		t.Fatalf("the router dropped %d packets, want the 2 unsolicited ones", dropped)
	}
}

// A TCP connection from outside to a port the home listens on gets no
// answer at all (dropped at the router, not refused), while the home can
// connect out.
func TestUnsolicitedTCPIsDropped(t *testing.T) {
	lab := netlab.New(t)
	pub := lab.PublicHost("pub")
	stranger := lab.PublicHost("stranger")
	alice := lab.Home("alice", netlab.PortPreserving)

	ln, err := alice.Listen("tcp4", ":8000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	before := inputDrops(t, alice.Router)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := stranger.DialContext(ctx, "tcp4", netip.AddrPortFrom(alice.Public, 8000).String())
	if err == nil {
		c.Close()
		t.Fatal("a connection from outside reached alice's listener")
	}
	if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial from outside: %v, want no answer at all (a timeout)", err)
	}
	if inputDrops(t, alice.Router) == before {
		t.Fatal("the router's drop counter did not move: the SYN was not dropped there")
	}
	// The private address is not reachable from the internet at all.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if c, err := stranger.DialContext(ctx2, "tcp4", netip.AddrPortFrom(alice.Addr, 8000).String()); err == nil {
		c.Close()
		t.Fatal("alice's private address is reachable from the internet")
	}

	out, err := pub.Listen("tcp4", ":8001")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	accepted := make(chan netip.AddrPort, 1)
	go func() {
		c, err := out.Accept()
		if err == nil {
			accepted <- c.RemoteAddr().(*net.TCPAddr).AddrPort()
			c.Close()
		}
		close(accepted)
	}()
	dialOut, err := alice.DialContext(context.Background(), "tcp4", netip.AddrPortFrom(pub.Addr, 8001).String())
	if err != nil {
		t.Fatalf("alice connecting out: %v", err)
	}
	dialOut.Close()
	if from := <-accepted; from.Addr() != alice.Public {
		t.Fatalf("pub saw alice's connection from %s, want %s", from, alice.Public)
	}
}

// Nothing in the lab routes to the world: every default route ends at the
// bridge's namespace, which has none and forwards nothing, and IPv6 is off.
func TestNoRouteOutOfTheLab(t *testing.T) {
	lab := netlab.New(t)
	lab.PublicHost("pub")
	lab.Home("alice", netlab.PortPreserving)
	lab.Home("dave", netlab.Symmetric)

	nss := lab.Namespaces()
	if len(nss) != 6 {
		t.Fatalf("namespaces %v, want the bridge's, pub, two routers and two homes", nss)
	}
	for _, ns := range nss {
		routes, err := exec.Command("ip", "-n", ns, "-4", "route").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v", ns, err)
		}
		for _, r := range strings.Split(strings.TrimSpace(string(routes)), "\n") {
			if r == "" {
				continue
			}
			if !strings.Contains(r, "203.0.113.") && !strings.Contains(r, "198.18.") {
				t.Errorf("%s has a route outside the lab's ranges: %q", ns, r)
			}
		}
		v6, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv6.conf.all.disable_ipv6").Output()
		if err != nil || strings.TrimSpace(string(v6)) != "1" {
			t.Errorf("%s: IPv6 is not off (%q, %v)", ns, v6, err)
		}
	}
	internet := nss[0]
	if out, err := exec.Command("ip", "-n", internet, "route", "get", "192.0.2.1").CombinedOutput(); err == nil {
		t.Errorf("the bridge's namespace routes outside the lab: %s", out)
	}
	fwd, err := exec.Command("ip", "netns", "exec", internet, "sysctl", "-n", "net.ipv4.ip_forward").Output()
	if err != nil || strings.TrimSpace(string(fwd)) != "0" {
		t.Errorf("the bridge's namespace forwards (%q, %v)", fwd, err)
	}
}

// When the test ends every namespace is gone, and so is a process left
// running inside one.
func TestCleanupRemovesEverything(t *testing.T) {
	var names []string
	var sleeper *exec.Cmd
	t.Run("lab", func(t *testing.T) {
		lab := netlab.New(t)
		alice := lab.Home("alice", netlab.PortPreserving)
		lab.PublicHost("pub")
		names = lab.Namespaces()
		out, err := alice.Command(context.Background(), "ip", "-4", "-brief", "addr").Output()
		if err != nil || !strings.Contains(string(out), alice.Addr.String()) {
			t.Fatalf("ip addr inside alice: %q, %v", out, err)
		}
		sleeper = alice.Command(context.Background(), "sleep", "600")
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
	})
	if sleeper == nil {
		t.Skip("the lab could not be built")
	}
	err := sleeper.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Errorf("the process left inside the lab ended with %v, want killed", err)
	}
	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range names {
		if strings.Contains(string(list), ns) {
			t.Errorf("namespace %s is still there", ns)
		}
	}
}
