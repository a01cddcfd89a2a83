// Package eventstream is the node's server-sent event stream: the web UI
// opens one EventSource and stays current without reloading.
//
// Two kinds of events flow through a Hub:
//
//   - keyed state ("hallway", "room/<id>", ...): the Hub takes a snapshot
//     of the node's state while someone listens and sends only what
//     changed since the last one. The node wakes it when something changed
//     (Wake), and it also polls slowly in case a change went unannounced;
//     the packages that own the state (rooms, p2p) only say that something
//     changed, never what the UI should show. A new listener first gets
//     the whole current snapshot.
//   - pushed events (audio levels): Publish sends them to every listener
//     as they come, and nothing is kept.
//
// A listener that cannot keep up is disconnected rather than waited for;
// its EventSource reconnects and starts again from a fresh snapshot.
package eventstream

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/clubnode/clubnode/internal/defaults"
	"github.com/clubnode/clubnode/internal/group"
)

// Defaults for Config.
const (
	DefaultInterval       = 300 * time.Millisecond
	DefaultMaxSubscribers = 16
	DefaultBuffer         = 256
	DefaultKeepAlive      = 20 * time.Second
)

// MaxEventSize bounds one event's data; an event bigger than this is a
// bug in its producer and is dropped with a warning.
const MaxEventSize = 1 << 20

// ErrClosed is returned by Subscribe once the hub has stopped.
var ErrClosed = errors.New("event stream closed")

// ErrTooManySubscribers is returned when MaxSubscribers listen already.
var ErrTooManySubscribers = errors.New("too many event stream listeners")

// Event is one server-sent event.
type Event struct {
	// Name is the SSE event name; the page listens by name.
	Name string
	// Data is the event's JSON payload.
	Data json.RawMessage
}

// NewEvent marshals data into an Event.
func NewEvent(name string, data any) (Event, error) {
	if !validName(name) {
		return Event{}, fmt.Errorf("event name %q: want lower-case letters, digits and dashes", name)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("event %s: %w", name, err)
	}
	if len(raw) > MaxEventSize {
		return Event{}, fmt.Errorf("event %s: %d bytes, more than %d", name, len(raw), MaxEventSize)
	}
	return Event{Name: name, Data: raw}, nil
}

// validName keeps event names to what cannot break the SSE framing.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Snapshot is the node's state as keyed events: key -> the event that
// shows it. A key missing from one poll to the next is simply no longer
// watched; the producer sends a final event itself if the page must learn
// that something ended.
type Snapshot map[string]Event

// Source is one part of the node's state, polled at its own pace: room
// documents change a few times a minute, audio levels many times a second.
type Source struct {
	// Poll returns the source's current snapshot. It runs on a goroutine
	// of the hub's, only while someone listens. Required.
	Poll func(ctx context.Context) Snapshot
	// Interval between polls; zero means DefaultInterval.
	Interval time.Duration
}

// Config configures a Hub.
type Config struct {
	// Sources are polled while someone listens. Their snapshots' keys
	// must not overlap.
	Sources []Source
	// MaxSubscribers bounds concurrent listeners (browser tabs).
	MaxSubscribers int
	// Buffer is how many events may wait for one slow listener.
	Buffer int
	// KeepAlive is the interval of comment lines that keep idle
	// connections (and proxies between, if any) from timing out.
	KeepAlive time.Duration
	Logger    *slog.Logger
}

// Hub fans the node's events out to listeners.
type Hub struct {
	cfg Config
	log *slog.Logger

	wake []chan struct{} // per source: a new listener wants a poll now

	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	last    []Snapshot // per source: what listeners were last told, by key
	stopped bool
}

// New validates cfg and returns a Hub; Run makes it poll.
func New(cfg Config) (*Hub, error) {
	cfg.Sources = slices.Clone(cfg.Sources)
	for i := range cfg.Sources {
		if cfg.Sources[i].Poll == nil {
			return nil, fmt.Errorf("eventstream: Sources[%d].Poll is required", i)
		}
		cfg.Sources[i].Interval = defaults.Positive(cfg.Sources[i].Interval, DefaultInterval)
	}
	cfg.MaxSubscribers = defaults.Positive(cfg.MaxSubscribers, DefaultMaxSubscribers)
	cfg.Buffer = defaults.Positive(cfg.Buffer, DefaultBuffer)
	cfg.KeepAlive = defaults.Positive(cfg.KeepAlive, DefaultKeepAlive)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	h := &Hub{cfg: cfg, log: cfg.Logger.With("component", "eventstream"), subs: map[*Subscription]struct{}{}}
	for range cfg.Sources {
		h.wake = append(h.wake, make(chan struct{}, 1))
		h.last = append(h.last, Snapshot{})
	}
	return h, nil
}

// Run polls the sources while anyone listens, until ctx ends; then it
// disconnects every listener and returns nil. Call it once.
func (h *Hub) Run(ctx context.Context) error {
	sources := group.New(ctx)
	for i := range h.cfg.Sources {
		sources.Go(func(ctx context.Context) { h.runSource(ctx, i) })
	}
	<-ctx.Done()
	sources.Close()
	h.stop()
	return nil
}

func (h *Hub) runSource(ctx context.Context, i int) {
	t := time.NewTicker(h.cfg.Sources[i].Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.wake[i]:
		}
		if h.Listeners() > 0 {
			h.poll(ctx, i)
		}
	}
}

func (h *Hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	for s := range h.subs {
		h.dropLocked(s)
	}
}

// Wake makes source i poll now instead of at its next interval: what a
// node calls when it knows its state changed. It never blocks; wakes that
// come while a poll is pending are one wake.
func (h *Hub) Wake(i int) {
	if i < 0 || i >= len(h.wake) {
		return
	}
	select {
	case h.wake[i] <- struct{}{}:
	default:
	}
}

// Listeners is how many listeners are connected.
func (h *Hub) Listeners() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// poll takes source i's snapshot and sends what changed, in key order.
func (h *Hub) poll(ctx context.Context, i int) {
	snap := h.cfg.Sources[i].Poll(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, key := range sortedKeys(snap) {
		ev := snap[key]
		if old, ok := h.last[i][key]; ok && old.Name == ev.Name && bytes.Equal(old.Data, ev.Data) {
			continue
		}
		h.broadcastLocked(ev)
	}
	h.last[i] = snap
}

// Publish sends a pushed event (not part of any snapshot) to every
// listener. It never blocks on a listener.
func (h *Hub) Publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.broadcastLocked(ev)
}

func (h *Hub) broadcastLocked(ev Event) {
	for s := range h.subs {
		select {
		case s.ch <- ev:
		default:
			h.log.Warn("dropping a slow event stream listener", "buffer", h.cfg.Buffer)
			h.dropLocked(s)
		}
	}
}

// Subscription is one listener.
type Subscription struct {
	h       *Hub
	initial []Event
	ch      chan Event
	gone    chan struct{}
}

// Subscribe adds a listener. Its first events are the current snapshot;
// Close it when done.
func (h *Hub) Subscribe() (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil, ErrClosed
	}
	if len(h.subs) >= h.cfg.MaxSubscribers {
		return nil, ErrTooManySubscribers
	}
	s := &Subscription{h: h, ch: make(chan Event, h.cfg.Buffer), gone: make(chan struct{})}
	for i, last := range h.last {
		if len(h.subs) == 0 {
			// Nobody listened, so nothing was polled: what is kept may
			// be old. Forget it; the poll this triggers sends everything.
			h.last[i] = Snapshot{}
			continue
		}
		for _, key := range sortedKeys(last) {
			s.initial = append(s.initial, last[key])
		}
	}
	h.subs[s] = struct{}{}
	for _, wake := range h.wake {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	return s, nil
}

// sortedKeys orders a snapshot so a new listener learns things in a
// stable order.
func sortedKeys(s Snapshot) []string { return slices.Sorted(maps.Keys(s)) }

// Next returns the listener's next event. It fails when ctx ends, the
// listener was dropped for being slow, or the hub stopped.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	if len(s.initial) > 0 {
		ev := s.initial[0]
		s.initial = s.initial[1:]
		return ev, nil
	}
	select {
	case ev := <-s.ch:
		return ev, nil
	case <-s.gone:
		// Events sent before the drop still count.
		select {
		case ev := <-s.ch:
			return ev, nil
		default:
		}
		return Event{}, ErrClosed
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// Close removes the listener. Safe to call more than once.
func (s *Subscription) Close() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.dropLocked(s)
}

func (h *Hub) dropLocked(s *Subscription) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	close(s.gone)
}
