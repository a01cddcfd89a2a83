package p2p

import (
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/test"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clubnode/clubnode/internal/testutil"
)

// TestResourceManagerReportsOnlyWithMetrics: a node without metrics must
// not pay for the resource manager's statistics on every stream, and a
// node with them must still report.
func TestResourceManagerReportsOnlyWithMetrics(t *testing.T) {
	// The reporter's collectors belong to the rcmgr package, shared by
	// every node in this process; this registry only reads them.
	watch := prometheus.NewRegistry()
	rcmgr.MustRegisterWith(watch)
	before := rcmgrObservations(t, watch)

	a := newNode(t)
	found(t, a, "quiet")
	b := newNode(t)
	join(t, b, bearerInvite(t, a, 2))
	testutil.Eventually(t, 15*time.Second, knowsMembers(b, a.ID()))
	if n := rcmgrObservations(t, watch) - before; n != 0 {
		t.Fatalf("two nodes without metrics: the resource manager reported %d stream and connection changes", n)
	}

	c := newNodeWith(t, func(cfg *Config) { cfg.Metrics = prometheus.NewRegistry() })
	join(t, c, bearerInvite(t, a, 1))
	testutil.Eventually(t, 15*time.Second, knowsMembers(c, a.ID()))
	if n := rcmgrObservations(t, watch) - before; n == 0 {
		t.Fatal("a node with metrics: the resource manager reported nothing")
	}
}

// rcmgrObservations counts the samples in the resource manager's
// histograms, which grow with every change of a peer's streams or
// connections and never shrink.
func rcmgrObservations(t *testing.T, reg prometheus.Gatherer) uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "libp2p_rcmgr_") {
			continue
		}
		for _, m := range f.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				n += h.GetSampleCount()
			}
		}
	}
	return n
}

// BenchmarkResourceManagerStream is what the resource manager costs one
// stream (open, name its protocol, close), with and without its
// statistics reporter.
func BenchmarkResourceManagerStream(b *testing.B) {
	for _, metrics := range []bool{false, true} {
		name := "metrics=off"
		if metrics {
			name = "metrics=on"
		}
		b.Run(name, func(b *testing.B) {
			rm, err := newResourceManager(256, metrics)
			if err != nil {
				b.Fatal(err)
			}
			defer rm.Close()
			p := test.RandPeerIDFatal(b)
			b.ReportAllocs()
			for b.Loop() {
				s, err := rm.OpenStream(p, network.DirOutbound)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.SetProtocol(SyncProtocol); err != nil {
					b.Fatal(err)
				}
				s.Done()
			}
		})
	}
}
