package netlab_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/netlab"
)

// reflector answers every UDP datagram sent to h:port with the address it
// came from, as a STUN server does. It stops when the test ends.
func reflector(t *testing.T, h *netlab.Host, port int) netip.AddrPort {
	t.Helper()
	pc, err := h.ListenPacket("udp4", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(from.String()), from)
		}
	})
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return netip.AddrPortFrom(h.Addr, uint16(port))
}

// observed asks a reflector how it sees conn.
func observed(t *testing.T, conn net.PacketConn, refl netip.AddrPort) netip.AddrPort {
	t.Helper()
	if _, err := conn.WriteTo([]byte("who am I?"), net.UDPAddrFromAddrPort(refl)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no answer from the reflector at %s: %v", refl, err)
		}
		if from.(*net.UDPAddr).AddrPort() != refl {
			continue
		}
		ap, err := netip.ParseAddrPort(string(buf[:n]))
		if err != nil {
			t.Fatalf("reflector answered %q: %v", buf[:n], err)
		}
		return ap
	}
}

func udpSocket(t *testing.T, h *netlab.Host) *net.UDPConn {
	t.Helper()
	pc, err := h.ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.(*net.UDPConn)
}

func localPort(c net.PacketConn) uint16 { return c.LocalAddr().(*net.UDPAddr).AddrPort().Port() }

var policyDrops = regexp.MustCompile(`Chain INPUT \(policy DROP (\d+) packets`)

// inputDrops is how many packets a router's INPUT policy has dropped: the
// unsolicited ones that came to its WAN address.
func inputDrops(t *testing.T, router *netlab.Host) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", router.Namespace, "iptables", "-L", "INPUT", "-n", "-v", "-x").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables in %s: %v: %s", router.Name, err, out)
	}
	m := policyDrops.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no INPUT policy counter in:\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

var errNothing = errors.New("nothing arrived")

// readFrom reads one datagram with a deadline and returns its text and sender.
func readFrom(c net.PacketConn, within time.Duration) (string, netip.AddrPort, error) {
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(time.Now().Add(within))
	defer c.SetReadDeadline(time.Time{})
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "", netip.AddrPort{}, errNothing
		}
		return "", netip.AddrPort{}, err
	}
	return string(buf[:n]), from.(*net.UDPAddr).AddrPort(), nil
}
