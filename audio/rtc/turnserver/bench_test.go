package turnserver

import (
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRelay relays one Opus-sized packet (a 32 kbit/s, 20 ms frame
// in SRTP is about 100 bytes) from a member's relay to its peer per
// iteration, over loopback, with a channel bound as ICE would. cpu-ns/pkt
// is the whole process's CPU per packet: the pion client, the server and
// the peer socket together, an upper bound of the server's share.
func BenchmarkRelay(b *testing.B) {
	s := newServer(b, Config{})
	creds := mustIssue(b, s, "alice")
	if err := s.AllowPeers("alice", []netip.Addr{loopback}); err != nil {
		b.Fatal(err)
	}
	relay := allocate(b, s, creds)
	bob := peer(b, "127.0.0.1")
	pkt := make([]byte, 100)
	buf := make([]byte, 1500)
	// Warm up: the permission, then the channel binding pion makes.
	for range 50 {
		if _, err := relay.WriteTo(pkt, bob.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		if _, _, err := bob.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := relay.WriteTo(pkt, bob.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		if _, _, err := bob.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/pkt")
	if st := s.Stats(); st.PacketsToPeers < uint64(b.N) {
		b.Fatalf("relayed %d packets of %d", st.PacketsToPeers, b.N)
	}
}
