package netlab_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/netlab"
)

// punch has a and b learn their public mappings from a reflector, then
// both send to the other's mapping every 20 ms (a simultaneous open) until
// each has heard the other or the time is up. It reports who heard whom.
func punch(t *testing.T, refl netip.AddrPort, a, b *netlab.Host, within time.Duration) (aHeardB, bHeardA bool) {
	t.Helper()
	ca, cb := udpSocket(t, a), udpSocket(t, b)
	ma, mb := observed(t, ca, refl), observed(t, cb, refl)
	t.Logf("%s is seen at %s, %s at %s", a.Name, ma, b.Name, mb)

	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var wg sync.WaitGroup
	side := func(conn *net.UDPConn, peer netip.AddrPort, heard *bool) {
		defer wg.Done()
		got := make(chan struct{})
		var readers sync.WaitGroup
		readers.Go(func() {
			buf := make([]byte, 100)
			for {
				_, from, err := conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				if from.Addr() == peer.Addr() {
					close(got)
					return
				}
			}
		})
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			_, _ = conn.WriteToUDPAddrPort([]byte("punch"), peer)
			select {
			case <-got:
				*heard = true
				// Keep sending a little so the other side hears us too.
				for range 10 {
					_, _ = conn.WriteToUDPAddrPort([]byte("punch"), peer)
					select {
					case <-ctx.Done():
					case <-tick.C:
					}
				}
				_ = conn.SetReadDeadline(time.Now())
				readers.Wait()
				return
			case <-ctx.Done():
				_ = conn.SetReadDeadline(time.Now())
				readers.Wait()
				return
			case <-tick.C:
			}
		}
	}
	wg.Add(2)
	go side(ca, mb, &aHeardB)
	go side(cb, ma, &bHeardA)
	wg.Wait()
	return aHeardB, bHeardA
}

func TestHolePunching(t *testing.T) {
	lab := netlab.New(t)
	pub := lab.PublicHost("pub")
	alice := lab.Home("alice", netlab.PortPreserving)
	bob := lab.Home("bob", netlab.PortPreserving)
	dave := lab.Home("dave", netlab.Symmetric)
	refl := reflector(t, pub, 3478)

	t.Run("port-preserving to port-preserving", func(t *testing.T) {
		ab, ba := punch(t, refl, alice, bob, 10*time.Second)
		if !ab || !ba {
			t.Fatalf("alice heard bob: %v, bob heard alice: %v; want both\n%s\n%s",
				ab, ba, alice.Router.Diagnose(), bob.Router.Diagnose())
		}
	})
	t.Run("symmetric to port-preserving", func(t *testing.T) {
		before := inputDrops(t, alice.Router) + inputDrops(t, dave.Router)
		// Three seconds of punching at 50 packets a second each way is
		// far more than a hole that could open would need.
		ab, ba := punch(t, refl, alice, dave, 3*time.Second)
		if ab || ba {
			t.Fatalf("alice heard dave: %v, dave heard alice: %v; want neither", ab, ba)
		}
		if dropped := inputDrops(t, alice.Router) + inputDrops(t, dave.Router) - before; dropped < 20 {
			t.Fatalf("the routers dropped only %d packets: the punches did not reach them", dropped)
		}
	})
}
