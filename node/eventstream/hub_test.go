package eventstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clubnode/clubnode/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// state is a fake node state the tests change between polls.
type state struct {
	mu    sync.Mutex
	snap  Snapshot
	polls atomic.Int64
}

func (s *state) set(t *testing.T, key, name string, data any) {
	t.Helper()
	ev, err := NewEvent(name, data)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := Snapshot{}
	for k, v := range s.snap {
		next[k] = v
	}
	next[key] = ev
	s.snap = next
}

func (s *state) poll(context.Context) Snapshot {
	s.polls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

func startHub(t *testing.T, st *state, cfg Config, interval time.Duration) *Hub {
	t.Helper()
	if interval == 0 {
		interval = 5 * time.Millisecond
	}
	cfg.Sources = append([]Source{{Poll: st.poll, Interval: interval}}, cfg.Sources...)
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func next(t *testing.T, s *Subscription) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("next event: %v", err)
	}
	return ev
}

func TestSnapshotThenDiffs(t *testing.T) {
	st := &state{}
	st.set(t, "hallway", "hallway", []string{"room-a"})
	st.set(t, "room/a", "room", map[string]int{"version": 1})
	h := startHub(t, st, Config{}, 0)
	s, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The first listener starts from nothing, so the first poll sends
	// the whole state, in some order.
	got := map[string]string{}
	for range 2 {
		ev := next(t, s)
		got[ev.Name] = string(ev.Data)
	}
	if got["hallway"] != `["room-a"]` || got["room"] != `{"version":1}` {
		t.Fatalf("first events: %v", got)
	}
	// Only what changed comes next.
	st.set(t, "room/a", "room", map[string]int{"version": 2})
	if ev := next(t, s); ev.Name != "room" || string(ev.Data) != `{"version":2}` {
		t.Fatalf("diff: %s %s", ev.Name, ev.Data)
	}
	h.Publish(Event{Name: "levels", Data: []byte(`{"room":"a"}`)})
	if ev := next(t, s); ev.Name != "levels" {
		t.Fatalf("pushed event: %s", ev.Name)
	}
	// A second listener gets the current snapshot at once, sorted by key.
	s2, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if ev := next(t, s2); ev.Name != "hallway" {
		t.Fatalf("second listener's first event: %s", ev.Name)
	}
	if ev := next(t, s2); string(ev.Data) != `{"version":2}` {
		t.Fatalf("second listener's second event: %s", ev.Data)
	}
}

func TestSourcesAtTheirOwnPace(t *testing.T) {
	slow, fast := &state{}, &state{}
	slow.set(t, "hallway", "hallway", 1)
	fast.set(t, "levels/a", "levels", 0.1)
	h := startHub(t, slow, Config{Sources: []Source{{Poll: fast.poll, Interval: time.Millisecond}}}, time.Hour)
	s, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := map[string]bool{}
	for range 2 {
		got[next(t, s).Name] = true
	}
	if !got["hallway"] || !got["levels"] {
		t.Fatalf("a new listener got %v, want both sources polled at once", got)
	}
	// The slow source ticks hourly; the fast one still delivers.
	fast.set(t, "levels/a", "levels", 0.9)
	if ev := next(t, s); ev.Name != "levels" || string(ev.Data) != "0.9" {
		t.Fatalf("fast source: %s %s", ev.Name, ev.Data)
	}
	if _, err := New(Config{Sources: []Source{{}}}); err == nil {
		t.Fatal("a source without Poll accepted")
	}
}

func TestNoPollingWithoutListeners(t *testing.T) {
	st := &state{snap: Snapshot{}}
	h := startHub(t, st, Config{}, time.Millisecond)
	s, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := st.polls.Load(); n < 3 {
			return fmt.Errorf("%d polls while listening", n)
		}
		return nil
	})
	s.Close()
	// An absence can only be observed over a span: about fifty ticks
	// with nobody listening may add at most the one poll already under
	// way when Close ran.
	before := st.polls.Load()
	timer := time.NewTimer(50 * time.Millisecond)
	<-timer.C
	if after := st.polls.Load(); after > before+1 {
		t.Fatalf("%d polls with nobody listening", after-before)
	}
}

func TestSlowListenerIsDropped(t *testing.T) {
	st := &state{snap: Snapshot{}}
	h := startHub(t, st, Config{Buffer: 2}, 0)
	slow, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		h.Publish(Event{Name: "levels", Data: []byte(fmt.Sprint(i))})
	}
	ctx := context.Background()
	for range 2 {
		if _, err := slow.Next(ctx); err != nil {
			t.Fatalf("buffered events lost: %v", err)
		}
	}
	if _, err := slow.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("slow listener not dropped: %v", err)
	}
	slow.Close() // after a drop, Close is harmless
}

func TestMaxSubscribers(t *testing.T) {
	h := startHub(t, &state{snap: Snapshot{}}, Config{MaxSubscribers: 1}, 0)
	s, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(); !errors.Is(err, ErrTooManySubscribers) {
		t.Fatalf("second subscribe: %v", err)
	}
	s.Close()
	s2, err := h.Subscribe()
	if err != nil {
		t.Fatalf("subscribe after a listener left: %v", err)
	}
	s2.Close()
}

func TestNewEventValidates(t *testing.T) {
	for _, name := range []string{"", "Room", "room\ndata: x", "room:x", strings.Repeat("a", 65)} {
		if _, err := NewEvent(name, 1); err == nil {
			t.Errorf("NewEvent(%q) accepted", name)
		}
	}
	if _, err := NewEvent("x", func() {}); err == nil {
		t.Error("NewEvent accepted data JSON cannot encode")
	}
	if _, err := NewEvent("x", strings.Repeat("a", MaxEventSize)); err == nil {
		t.Error("NewEvent accepted an oversized event")
	}
}

// readEvents parses a text/event-stream, up to max events or limit bytes:
// what a browser's EventSource does, for the tests.
func readEvents(r io.Reader, limit int64, max int) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(io.LimitReader(r, limit))
	sc.Buffer(make([]byte, 0, 4096), MaxEventSize+64)
	var cur Event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.Name != "" || cur.Data != nil {
				out = append(out, cur)
				if len(out) == max {
					return out, nil
				}
			}
			cur = Event{}
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
		case strings.HasPrefix(line, "event: "):
			cur.Name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if cur.Data != nil {
				return out, fmt.Errorf("two data lines in one event")
			}
			cur.Data = []byte(strings.TrimPrefix(line, "data: "))
		default:
			return out, fmt.Errorf("unexpected line %q", line)
		}
	}
	return out, sc.Err()
}

func TestServeHTTP(t *testing.T) {
	st := &state{}
	st.set(t, "hallway", "hallway", []string{})
	st.set(t, "identity", "identity", map[string]string{"name": "Ada"})
	h, err := New(Config{Sources: []Source{{Poll: st.poll, Interval: 5 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); _ = h.Run(ctx) }()
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	evs, err := readEvents(resp.Body, 1<<20, 2)
	if err != nil || len(evs) != 2 {
		t.Fatalf("events %v, %v", evs, err)
	}
	h.Publish(Event{Name: "levels", Data: []byte(`{"room":"r","levels":{"p":0.5}}`)})
	evs, err = readEvents(resp.Body, 1<<20, 1)
	if err != nil || len(evs) != 1 || evs[0].Name != "levels" {
		t.Fatalf("pushed event %v, %v", evs, err)
	}
	// Stopping the hub ends open streams, so a server shutdown need not
	// wait for browsers to hang up.
	stopHub()
	<-hubDone
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	if _, err := h.Subscribe(); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after stop: %v", err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("stream after stop: %d", rec.Code)
	}
}

// FuzzWriteEvent: whatever the name and payload, WriteEvent either
// refuses or writes exactly one event that parses back unchanged.
func FuzzWriteEvent(f *testing.F) {
	f.Add("room", []byte(`{"id":"room-x"}`))
	f.Add("room\n", []byte(`1`))
	f.Add("levels", []byte("a\nb"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		ev, err := NewEvent(name, string(data))
		if err != nil {
			return
		}
		var b strings.Builder
		if err := WriteEvent(&b, ev); err != nil {
			t.Fatalf("WriteEvent refused what NewEvent made: %v", err)
		}
		got, err := readEvents(strings.NewReader(b.String()), 4<<20, 2)
		if err != nil || len(got) != 1 || got[0].Name != ev.Name || string(got[0].Data) != string(ev.Data) {
			t.Fatalf("round trip of %q %q: %v %v", name, data, got, err)
		}
	})
}
