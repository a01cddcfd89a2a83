package rtc

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(benchChildrenEnv) != "" {
		os.Exit(runBenchChildren()) // the children of a relay benchmark
	}
	goleak.VerifyTestMain(m)
}

// testLogger shows rtc's warnings (and debug with RTC_DEBUG=1) on stderr.
func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("RTC_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// newTestAPI makes an API on loopback unless cfg brings its own network
// (Setting). Loopback APIs get patient ICE timeouts (5 s instead of 1 s):
// the machine these tests share can starve a process for over a second,
// and only TestParentLost, which brings its own network and keeps the
// production timeouts, is about noticing a dead peer.
func newTestAPI(t testing.TB, cfg Config) *API {
	t.Helper()
	if cfg.Setting == nil {
		cfg.LoopbackOnly = true
		cfg.Setting = func(s *webrtc.SettingEngine) {
			s.SetICETimeouts(patientTimeout, patientTimeout, iceKeepalive)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	api, err := NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return api
}

func newTestForwarder(t testing.TB, speakers ...string) *Forwarder {
	t.Helper()
	f := NewForwarder(testLogger())
	f.SetSpeakers(speakers)
	t.Cleanup(f.Close)
	return f
}

// runningLink is one tree link between two Forwarders, both ends running.
type runningLink struct {
	cancel     context.CancelFunc
	parentDone chan struct{} // closed when ServeChild has returned parentErr
	parentErr  error
	childDone  chan struct{} // closed when DialParent has returned childErr
	childErr   error
}

// patientTimeout replaces the 1 s liveness timeouts in tests that are not
// about liveness (see newTestAPI).
const patientTimeout = 5 * time.Second

// connect runs ServeChild and DialParent over an in-memory stream, with
// patient heartbeat timeouts unless the options set them. Cleanup stops
// both and waits for them.
func connect(t testing.TB, parentAPI *API, parentF *Forwarder, childAPI *API, childF *Forwarder,
	co ChildOptions, po ParentOptions) *runningLink {
	t.Helper()
	if co.Timeout == 0 {
		co.Timeout = patientTimeout
	}
	if po.Timeout == 0 {
		po.Timeout = patientTimeout
	}
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	l := &runningLink{cancel: cancel, parentDone: make(chan struct{}), childDone: make(chan struct{})}
	go func() {
		defer close(l.parentDone)
		l.parentErr = ServeChild(ctx, parentAPI, a, parentF, co)
	}()
	go func() {
		defer close(l.childDone)
		l.childErr = DialParent(ctx, childAPI, b, childF, po)
	}()
	t.Cleanup(l.stop)
	return l
}

// up fails the test if either end of the link has returned.
func (l *runningLink) up(t testing.TB) {
	t.Helper()
	select {
	case <-l.parentDone:
		t.Fatalf("link ended: ServeChild returned %v", l.parentErr)
	case <-l.childDone:
		t.Fatalf("link ended: DialParent returned %v", l.childErr)
	default:
	}
}

// stop ends both sides and waits for them (safe to call more than once).
func (l *runningLink) stop() {
	l.cancel()
	<-l.parentDone
	<-l.childDone
}

// collector is a sink that records payloads per speaker in arrival order.
type collector struct {
	mu  sync.Mutex
	got map[string][]string
	at  map[string][]time.Time
}

func newCollector() *collector {
	return &collector{got: map[string][]string{}, at: map[string][]time.Time{}}
}

func (c *collector) sink(speaker string, pkt *rtp.Packet) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got[speaker] = append(c.got[speaker], string(pkt.Payload))
	c.at[speaker] = append(c.at[speaker], now)
}

func (c *collector) payloads(speaker string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got[speaker]...)
}

// withPrefix returns the payloads of speaker that start with prefix.
func (c *collector) withPrefix(speaker, prefix string) []string {
	var out []string
	for _, p := range c.payloads(speaker) {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// source numbers the packets of one speaker like an Opus packetizer would.
type source struct {
	speaker string
	ssrc    uint32
	seq     uint16
	ts      uint32
}

func (s *source) next(payload string) *rtp.Packet {
	s.seq++
	s.ts += 960
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: PayloadType, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc},
		Payload: []byte(payload),
	}
}

// pump writes numbered packets "tag-speaker-i" for each source to write,
// one round per interval, until ctx ends. It returns when it has stopped.
func pump(ctx context.Context, interval time.Duration, tag string, write func(speaker string, pkt *rtp.Packet), srcs ...*source) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		for _, s := range srcs {
			write(s.speaker, s.next(fmt.Sprintf("%s-%s-%06d", tag, s.speaker, i)))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// burst writes n numbered packets per source, paced by interval, and
// returns the payloads it wrote per speaker.
func burst(n int, interval time.Duration, tag string, write func(string, *rtp.Packet), srcs ...*source) map[string][]string {
	sent := map[string][]string{}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		for _, s := range srcs {
			p := fmt.Sprintf("%s-%s-%06d", tag, s.speaker, i)
			write(s.speaker, s.next(p))
			sent[s.speaker] = append(sent[s.speaker], p)
		}
		<-tick.C
	}
	return sent
}

// warmUp writes probe packets until sink has seen one from every source.
func warmUp(t testing.TB, c *collector, write func(string, *rtp.Packet), srcs ...*source) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		missing := ""
		for _, s := range srcs {
			write(s.speaker, s.next(fmt.Sprintf("warm-%s-%06d", s.speaker, i)))
			if len(c.withPrefix(s.speaker, "warm-")) == 0 {
				missing = s.speaker
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no packet of %s arrived in 10s", missing)
		}
		<-tick.C
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func (c *collector) arrivals(speaker string) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.at[speaker]...)
}

func (c *collector) lastArrival(speaker string) time.Time {
	at := c.arrivals(speaker)
	if len(at) == 0 {
		return time.Time{}
	}
	return at[len(at)-1]
}
