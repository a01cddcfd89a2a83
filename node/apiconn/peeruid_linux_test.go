package apiconn

import (
	"net"
	"os"
	"testing"
)

// openLoopback opens n loopback TCP connections, both ends, closed when
// tb ends: the sockets the kernel's tables hold besides the one asked
// about, as on a machine running many nodes.
func openLoopback(tb testing.TB, n int) (servers []net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			c.Close()
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close(); s.Close() })
		servers = append(servers, s)
	}
	return servers
}

// The kernel's socket diagnostics find the other end's owner, the same
// one /proc/net/tcp lists, among many sockets; a socket that is not
// there is an error, not uid 0.
func TestSockDiagFindsTheOtherEnd(t *testing.T) {
	servers := openLoopback(t, 50)
	for _, s := range []net.Conn{servers[0], servers[25], servers[49]} {
		local, remote := s.LocalAddr().(*net.TCPAddr), s.RemoteAddr().(*net.TCPAddr)
		uid, err := sockDiagUID(remote, local)
		if err != nil {
			t.Skipf("socket diagnostics refused here: %v", err)
		}
		if int(uid) != os.Getuid() {
			t.Errorf("sock_diag says the other end of %s is uid %d, want %d", local, uid, os.Getuid())
		}
		if fromProc, ok := procNetUID(local, remote); !ok || fromProc != uid {
			t.Errorf("/proc/net/tcp says uid %d (%v), sock_diag %d", fromProc, ok, uid)
		}
	}
	// No socket goes from 127.0.0.2 to the listener's port: the kernel's
	// lookup answers with the listener, which must not count.
	local := servers[10].LocalAddr().(*net.TCPAddr)
	if uid, err := sockDiagUID(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000}, local); err == nil {
		t.Errorf("sock_diag found uid %d for a socket that does not exist", uid)
	}
	// The other end's own port, from where no connection comes.
	if uid, err := sockDiagUID(local, &net.TCPAddr{IP: local.IP, Port: local.Port}); err == nil {
		t.Errorf("sock_diag found uid %d for a socket that does not exist", uid)
	}
}

// BenchmarkPeerUID: the cost of telling who is at the other end of one
// API connection, with 300 other loopback connections open.
func BenchmarkPeerUID(b *testing.B) {
	s := openLoopback(b, 300)[150]
	local, remote := s.LocalAddr().(*net.TCPAddr), s.RemoteAddr().(*net.TCPAddr)
	b.Run("sock_diag", func(b *testing.B) {
		for b.Loop() {
			if _, err := sockDiagUID(remote, local); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proc_net_tcp", func(b *testing.B) {
		for b.Loop() {
			if _, ok := procNetUID(local, remote); !ok {
				b.Fatal("not found")
			}
		}
	})
}
