package rtc

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// The relay benchmarks run the children in a second process (this test
// binary again, see TestMain), so the CPU and allocations measured are the
// relay's alone.
const (
	benchChildrenEnv = "RTC_BENCH_CHILDREN" // set in the helper: how many children
	benchAddrEnv     = "RTC_BENCH_ADDR"     // the relay's signaling listener
	benchSpeakersEnv = "RTC_BENCH_SPEAKERS" // comma-separated stage
	benchRawEnv      = "RTC_BENCH_RAW"      // set: the children are plain pion PeerConnections
)

// opusSizedPayload is the size of a 20 ms Opus voice frame at ~32 kb/s.
const opusSizedPayload = 80

// runBenchChildren is the helper process: N children of one relay, each
// counting what it receives. It prints "ready" once every child has had a
// packet, "received N" (all children together) for every line it reads,
// and stops when its stdin closes.
func runBenchChildren() int {
	n, _ := strconv.Atoi(os.Getenv(benchChildrenEnv))
	speakers := strings.Split(os.Getenv(benchSpeakersEnv), ",")
	// Patient ICE timeouts, as newTestAPI's: a starved helper must not
	// take its relay for lost.
	api, err := NewAPI(Config{LoopbackOnly: true, Logger: testLogger(),
		ICE: &ICETimeouts{Disconnected: patientTimeout, Failed: patientTimeout, Keepalive: iceKeepalive}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		received atomic.Uint64
		seen     = make([]atomic.Bool, n)
	)
	for i := range n {
		conn, err := net.Dial("tcp", os.Getenv(benchAddrEnv))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			cancel()
			return 1
		}
		f := NewForwarder(testLogger())
		f.SetSpeakers(speakers)
		f.AddSink(func(string, *rtp.Packet) {
			received.Add(1)
			seen[i].Store(true)
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer f.Close()
			var err error
			if os.Getenv(benchRawEnv) != "" {
				err = rawBenchChild(ctx, api, conn, f.Write)
			} else {
				err = DialParent(ctx, api, conn, f, ParentOptions{Timeout: 5 * time.Second})
			}
			if ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "child:", err)
			}
		}()
	}
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			ready := true
			for i := range seen {
				ready = ready && seen[i].Load()
			}
			if ready {
				fmt.Println("ready")
				return
			}
		}
	}()
	for sc := bufio.NewScanner(os.Stdin); sc.Scan(); {
		fmt.Println("received", received.Load())
	}
	cancel()
	wg.Wait()
	return 0
}

// benchHelper is the helper process holding a relay's children.
type benchHelper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startBenchHelper starts children that dial addr: clubnode children
// (DialParent) or, with raw, plain pion PeerConnections (rawpion_bench_test.go).
func startBenchHelper(b *testing.B, children int, speakers []string, addr string, raw bool) *benchHelper {
	b.Helper()
	h := &benchHelper{lines: make(chan string, 4)}
	h.cmd = exec.Command(os.Args[0], "-test.run=^$")
	h.cmd.Env = append(os.Environ(), benchChildrenEnv+"="+strconv.Itoa(children),
		benchAddrEnv+"="+addr, benchSpeakersEnv+"="+strings.Join(speakers, ","))
	if raw {
		h.cmd.Env = append(h.cmd.Env, benchRawEnv+"=1")
	}
	h.cmd.Stderr = os.Stderr
	var err error
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
	}()
	return h
}

// waitReady writes rounds every 20 ms until every child has had a packet.
func (h *benchHelper) waitReady(b *testing.B, writeRound func()) {
	b.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(30 * time.Second)
	for {
		writeRound()
		select {
		case line := <-h.lines:
			if line != "ready" {
				b.Fatalf("helper said %q", line)
			}
			return
		case <-timeout:
			b.Fatal("children not ready in 30s")
		case <-tick.C:
		}
	}
}

// received asks the children how many packets they have had in all.
func (h *benchHelper) received(b *testing.B) uint64 {
	if _, err := io.WriteString(h.stdin, "count\n"); err != nil {
		b.Fatal(err)
	}
	n, ok := strings.CutPrefix(<-h.lines, "received ")
	count, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil {
		b.Fatalf("helper said %q", n)
	}
	return count
}

// stop ends the helper and waits for it.
func (h *benchHelper) stop() {
	h.stdin.Close()
	for range h.lines {
	}
	_ = h.cmd.Wait()
}

// benchRelay is a relay with N children in a helper process.
type benchRelay struct {
	*benchHelper
	f        *Forwarder
	cancel   context.CancelFunc
	links    sync.WaitGroup
	stopping atomic.Bool
	speakers []*source
}

func startBenchRelay(b *testing.B, children int, speakers []string) *benchRelay {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	r := &benchRelay{f: NewForwarder(testLogger())}
	r.f.SetSpeakers(speakers)
	for i, s := range speakers {
		r.speakers = append(r.speakers, &source{speaker: s, ssrc: uint32(i + 1)})
	}
	r.benchHelper = startBenchHelper(b, children, speakers, ln.Addr().String(), false)
	api := newTestAPI(b, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	b.Cleanup(r.stop)
	for range children {
		conn, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		r.links.Add(1)
		go func() {
			defer r.links.Done()
			if err := ServeChild(ctx, api, conn, r.f, ChildOptions{Timeout: 5 * time.Second}); !r.stopping.Load() {
				b.Error("relay:", err)
			}
		}()
	}
	r.waitReady(b, r.writeRound)
	return r
}

// writeRound writes one packet per speaker, Opus-sized.
func (r *benchRelay) writeRound() {
	var payload [opusSizedPayload]byte
	for _, s := range r.speakers {
		pkt := s.next("")
		pkt.Payload = payload[:]
		r.f.Write(s.speaker, pkt)
	}
}

// delivered waits (up to 2 s) for the children to have received every
// packet the relay forwarded since the counts in from, and returns the
// fraction they did.
func (r *benchRelay) delivered(b *testing.B, from benchCounts) float64 {
	forwarded := r.f.Stats().Forwarded - from.forwarded
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := r.received(b) - from.received
		if got >= forwarded || time.Now().After(deadline) {
			return float64(got) / float64(forwarded)
		}
		<-poll.C
	}
}

// benchCounts is where delivery counting starts: after warm-up, whose
// packets may have been queued before a child's track was negotiated.
type benchCounts struct{ forwarded, received uint64 }

func (r *benchRelay) counts(b *testing.B) benchCounts {
	return benchCounts{forwarded: r.f.Stats().Forwarded, received: r.received(b)}
}

// stop ends the children and the links (safe to call twice).
func (r *benchRelay) stop() {
	if r.stopping.Swap(true) {
		return
	}
	r.benchHelper.stop()
	r.cancel()
	r.links.Wait()
	r.f.Close()
}

// idleCPU measures the relay's CPU rate with links up but no packets
// (ICE keepalives, RTCP reports, timers, the pacing ticker itself), so the
// benchmarks can subtract it.
func idleCPU(interval time.Duration, rounds int) float64 {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	start, before := time.Now(), readUsage()
	for range rounds {
		<-tick.C
	}
	return float64(readUsage().cpu-before.cpu) / float64(time.Since(start))
}

// usage is the process's CPU time and allocation count.
type usage struct {
	cpu    time.Duration
	allocs uint64
}

func readUsage() usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), allocs: ms.Mallocs}
}

// BenchmarkForwarderWrite measures the relay's whole cost of forwarding one
// packet to one child over real WebRTC (fan-out, SRTP, NACK buffer, UDP
// send), at 1000 packets/s from four speakers.
func BenchmarkForwarderWrite(b *testing.B) {
	for _, children := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("children=%d", children), func(b *testing.B) {
			r := startBenchRelay(b, children, []string{"s1", "s2", "s3", "s4"})
			idle := idleCPU(time.Millisecond, 300)
			statsBefore, from := r.f.Stats(), r.counts(b)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			var payload [opusSizedPayload]byte
			b.ResetTimer()
			start, before := time.Now(), readUsage()
			for i := 0; i < b.N; i++ {
				s := r.speakers[i%len(r.speakers)]
				pkt := s.next("")
				pkt.Payload = payload[:]
				r.f.Write(s.speaker, pkt)
				<-tick.C
			}
			wall, after := time.Since(start), readUsage()
			b.StopTimer()
			copies := float64(b.N * children)
			busy := float64(after.cpu-before.cpu) - idle*float64(wall)
			b.ReportMetric(busy/copies, "cpu-ns/copy")
			b.ReportMetric(float64(after.allocs-before.allocs)/copies, "allocs/copy")
			b.ReportMetric(float64(r.f.Stats().DroppedSlowChild-statsBefore.DroppedSlowChild), "dropped")
			b.ReportMetric(100*r.delivered(b, from), "%delivered")
		})
	}
}

// BenchmarkRelayCapacity forwards a four-speaker stage at 50 packets/s per
// speaker to N children and reports the relay's CPU per child, and from it
// how many children one core could feed. One op is one 20 ms round.
func BenchmarkRelayCapacity(b *testing.B) {
	for _, children := range []int{8, 32} {
		b.Run(fmt.Sprintf("children=%d", children), func(b *testing.B) {
			r := startBenchRelay(b, children, []string{"s1", "s2", "s3", "s4"})
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			b.ResetTimer()
			start, before := time.Now(), readUsage()
			for i := 0; i < b.N; i++ {
				r.writeRound()
				<-tick.C
			}
			wall, after := time.Since(start), readUsage()
			b.StopTimer()
			perChild := float64(after.cpu-before.cpu) / float64(wall) / float64(children)
			b.ReportMetric(100*perChild, "%core/child")
			b.ReportMetric(1/perChild, "children/core")
			r.stop()
		})
	}
}

// BenchmarkHopLatency sends timestamped packets root -> relay -> leaf over
// loopback WebRTC at 200 packets/s and reports the added latency of the
// first hop and of the second (relay to leaf, including the relay's own
// forwarding), median and 99th percentile.
func BenchmarkHopLatency(b *testing.B) {
	api := newTestAPI(b, Config{})
	root := newTestForwarder(b, "s1")
	relay := newTestForwarder(b, "s1")
	leaf := newTestForwarder(b, "s1")
	connect(b, api, root, api, relay, ChildOptions{}, ParentOptions{})
	connect(b, api, relay, api, leaf, ChildOptions{}, ParentOptions{})

	var mu sync.Mutex
	hop1, hop2 := map[uint64]time.Duration{}, map[uint64]time.Duration{}
	record := func(into map[uint64]time.Duration) func(string, *rtp.Packet) {
		return func(_ string, pkt *rtp.Packet) {
			now := time.Now().UnixNano()
			if len(pkt.Payload) < 16 {
				return
			}
			id := binary.BigEndian.Uint64(pkt.Payload[8:])
			sent := int64(binary.BigEndian.Uint64(pkt.Payload))
			mu.Lock()
			into[id] = time.Duration(now - sent)
			mu.Unlock()
		}
	}
	defer relay.AddSink(record(hop1))()
	defer leaf.AddSink(record(hop2))()

	src := &source{speaker: "s1", ssrc: 1}
	send := func(id uint64) {
		pkt := src.next("")
		pkt.Payload = make([]byte, opusSizedPayload)
		binary.BigEndian.PutUint64(pkt.Payload[8:], id)
		binary.BigEndian.PutUint64(pkt.Payload, uint64(time.Now().UnixNano()))
		root.Write("s1", pkt)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for id := uint64(1 << 32); ; id++ { // warm up until the leaf hears
		send(id)
		<-tick.C
		mu.Lock()
		n := len(hop2)
		mu.Unlock()
		if n > 0 {
			break
		}
	}
	mu.Lock()
	clear(hop1)
	clear(hop2)
	mu.Unlock()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		send(uint64(i))
		<-tick.C
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	var first, second []time.Duration
	for id, d1 := range hop1 {
		first = append(first, d1)
		if d2, ok := hop2[id]; ok {
			second = append(second, d2-d1)
		}
	}
	if len(second) == 0 {
		b.Fatal("nothing reached the leaf")
	}
	slices.Sort(first)
	slices.Sort(second)
	pct := func(d []time.Duration, p float64) float64 {
		return float64(d[int(p*float64(len(d)-1))].Microseconds())
	}
	b.ReportMetric(pct(first, 0.5), "hop1-p50-µs")
	b.ReportMetric(pct(first, 0.99), "hop1-p99-µs")
	b.ReportMetric(pct(second, 0.5), "hop2-p50-µs")
	b.ReportMetric(pct(second, 0.99), "hop2-p99-µs")
	b.ReportMetric(100*float64(len(second))/float64(b.N), "%delivered")
}
