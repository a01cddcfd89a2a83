package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/testutil"
)

// linkPairs runs pairs real tree links on loopback, both ends on one API
// (so it holds 2×pairs links), each carrying one speaker, and waits until
// every link has carried audio both ways.
func linkPairs(tb testing.TB, pairs int) *rtc.API {
	tb.Helper()
	api, err := rtc.NewAPI(rtc.Config{LoopbackOnly: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Setting: func(s *webrtc.SettingEngine) { s.SetICETimeouts(30*time.Second, 30*time.Second, time.Second) }})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var roots []*rtc.Forwarder
	for i := range pairs {
		root, leaf := rtc.NewForwarder(nil), rtc.NewForwarder(nil)
		root.SetSpeakers([]string{"speaker"})
		leaf.SetSpeakers([]string{"speaker"})
		roots = append(roots, root)
		a, b := net.Pipe()
		room := "room-" + strconv.Itoa(i%50)
		wg.Add(2)
		go func() {
			defer wg.Done()
			_ = rtc.ServeChild(ctx, api, a, root, rtc.ChildOptions{Timeout: time.Minute,
				Label: rtc.LinkLabel{Room: room, Peer: fmt.Sprintf("child-%04d", i)}})
		}()
		go func() {
			defer wg.Done()
			_ = rtc.DialParent(ctx, api, b, leaf, rtc.ParentOptions{Timeout: time.Minute,
				Label: rtc.LinkLabel{Room: room, Peer: fmt.Sprintf("parent-%04d", i)}})
		}()
		tb.Cleanup(func() { root.Close(); leaf.Close() })
	}
	tb.Cleanup(func() { cancel(); wg.Wait() })
	var seq uint16
	testutil.Eventually(tb, 5*time.Minute, func() error {
		seq++
		for _, r := range roots {
			r.Write("speaker", &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: rtc.PayloadType,
				SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: 1}, Payload: []byte{0xf8, 0xff, 0xfe}})
		}
		stats := api.LinkStats(nil)
		carrying := 0
		for _, s := range stats {
			if s.PacketsSent > 0 || s.PacketsReceived > 0 {
				carrying++
			}
		}
		if carrying < 2*pairs {
			return fmt.Errorf("%d of %d links carry audio", carrying, 2*pairs)
		}
		return nil
	})
	return api
}

// scrape answers one scrape the way Prometheus asks for it, uncompressed.
func scrape(tb testing.TB, h http.Handler) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// BenchmarkScrape1000Links is one whole scrape (every collector, the text
// exposition) of a node with 1,000 live links. The links are set up
// first (a minute or two on two cores); set CLUBNODE_BENCH_LINKS to
// change their number.
func BenchmarkScrape1000Links(b *testing.B) {
	links := 1000
	if s := os.Getenv("CLUBNODE_BENCH_LINKS"); s != "" {
		links, _ = strconv.Atoi(s)
	}
	api := linkPairs(b, links/2)
	m := New()
	m.SetLinkSource(api.LinkStats)
	h := m.Handler(slog.New(slog.NewTextHandler(io.Discard, nil)))
	out := scrape(b, h)
	if n := strings.Count(out, "clubnode_link_rtt_seconds{"); n != links {
		b.Fatalf("%d links in the scrape, want %d", n, links)
	}
	b.ReportMetric(float64(len(out)), "bytes/scrape")
	measureScrapes(b, h)
}

// measureScrapes scrapes b.N times on one locked OS thread and reports,
// besides the wall time, that thread's CPU time per scrape: on a machine
// shared with the links' own goroutines (and other work) the wall time
// says more about the load than about the scrape.
func measureScrapes(b *testing.B, h http.Handler) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadCPU(b)
	n := 0
	for b.Loop() {
		scrape(b, h)
		n++
	}
	b.ReportMetric(float64(threadCPU(b)-before)/float64(n), "thread-cpu-ns/op")
}

func threadCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScrapeSnapshots1000 is the scrape's share past reading the
// links: collecting and encoding 1,000 links' stats, the runtime, process
// and build collectors, with no live links running beside it.
func BenchmarkScrapeSnapshots1000(b *testing.B) {
	snap := make([]rtc.LinkStats, 1000)
	for i := range snap {
		snap[i] = rtc.LinkStats{LinkLabel: rtc.LinkLabel{Room: "room-" + strconv.Itoa(i%50),
			Peer: fmt.Sprintf("12D3KooW%044d", i)}, Role: rtc.RoleChild, PacketsSent: 123456, BytesSent: 9876543,
			NACKsReceived: 12, RemoteLost: 3, RTT: 23 * time.Millisecond, Jitter: 4 * time.Millisecond}
	}
	m := New()
	m.SetLinkSource(func(dst []rtc.LinkStats) []rtc.LinkStats { return append(dst, snap...) })
	h := m.Handler(slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.ReportMetric(float64(len(scrape(b, h))), "bytes/scrape")
	measureScrapes(b, h)
}
