package rtc

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
)

// outletQueue is how many packets a child link may fall behind before its
// packets are dropped: about 0.3 s of a four-speaker stage. Audio that late
// is useless, and queueing more would only add delay.
const outletQueue = 64

// maxSpeakers bounds the stage: each speaker is one media section on every
// child link, and the offer must stay under the signaling frame limit.
const maxSpeakers = 32

// ForwarderStats counts what a Forwarder did since it was made.
type ForwarderStats struct {
	PacketsIn         uint64 // packets of current speakers accepted by Write
	Forwarded         uint64 // packet copies queued to child links
	DroppedNotSpeaker uint64 // packets whose speaker is not on the stage (or nil packets)
	DroppedSlowChild  uint64 // copies dropped because a child link's queue was full
	Children          int    // child links attached now
	Standbys          int    // standby links attached now, not yet activated
	Sinks             int    // local sinks attached now
}

// Forwarder is one node's fan-out point for one room: every packet of a
// current speaker goes to every child link and every local sink. Write never
// blocks on a child: each child link has a bounded queue drained by its own
// goroutine, and a full queue drops the packet. It is safe for concurrent
// use.
type Forwarder struct {
	log *slog.Logger

	mu    sync.Mutex             // serializes changes to state
	state atomic.Pointer[fanout] // read without locks on every packet

	done      chan struct{}
	closeOnce sync.Once

	in, forwarded, notSpeaker, slowChild atomic.Uint64
}

// fanout is an immutable snapshot of where packets go; changes replace it.
type fanout struct {
	speakers map[string]struct{}
	list     []string // speakers, sorted: the order of new tracks on a link
	outlets  []*outlet
	// standbys are standby links' outlets: told of stage changes, so
	// their tracks are negotiated in advance, but sent no packets until
	// activated (see ChildOptions.Standby).
	standbys []*outlet
	sinks    []*sink
	closed   bool
}

// outlet is a child link's end of the fan-out: the Forwarder only queues
// into it and pokes it when the stage changes.
type outlet struct {
	queue   chan outPacket
	changed chan struct{} // capacity 1: coalesces stage changes
}

type outPacket struct {
	speaker string
	pkt     *rtp.Packet
}

type sink struct {
	fn func(speaker string, pkt *rtp.Packet)
}

// NewForwarder makes a Forwarder with an empty stage.
func NewForwarder(logger *slog.Logger) *Forwarder {
	if logger == nil {
		logger = slog.Default()
	}
	f := &Forwarder{log: logger.With("component", "rtc.forwarder"), done: make(chan struct{})}
	f.state.Store(&fanout{speakers: map[string]struct{}{}})
	return f
}

// update replaces the snapshot with a copy changed by edit.
func (f *Forwarder) update(edit func(next *fanout)) *fanout {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := *f.state.Load()
	edit(&next)
	f.state.Store(&next)
	return &next
}

// SetSpeakers sets the stage: only these speakers' packets are forwarded.
// IDs that cannot name a track are skipped and logged, as are speakers past
// the first 32. Every child link renegotiates to add or remove one track
// per changed speaker.
func (f *Forwarder) SetSpeakers(ids []string) {
	speakers := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if err := CheckSpeakerID(id); err != nil {
			f.log.Warn("speaker skipped", "speaker", id, "err", err)
			continue
		}
		if len(speakers) == maxSpeakers {
			f.log.Warn("stage full: speaker skipped", "speaker", id, "max", maxSpeakers)
			continue
		}
		speakers[id] = struct{}{}
	}
	list := make([]string, 0, len(speakers))
	for id := range speakers {
		list = append(list, id)
	}
	slices.Sort(list)

	var changed bool
	next := f.update(func(next *fanout) {
		if next.closed || slices.Equal(next.list, list) {
			return
		}
		changed = true
		next.speakers, next.list = speakers, list
	})
	if !changed {
		return
	}
	for _, o := range slices.Concat(next.outlets, next.standbys) {
		select {
		case o.changed <- struct{}{}:
		default: // a change is already pending; the link reads the latest stage
		}
	}
}

// speakers returns the current stage, sorted.
func (f *Forwarder) speakers() []string { return f.state.Load().list }

// Write forwards pkt of speaker to every child link and local sink. The
// packet is shared, not copied: neither Write's caller nor any sink may
// change it afterwards.
func (f *Forwarder) Write(speaker string, pkt *rtp.Packet) {
	s := f.state.Load()
	if _, ok := s.speakers[speaker]; !ok || pkt == nil {
		f.notSpeaker.Add(1)
		return
	}
	f.in.Add(1)
	var queued, dropped uint64
	for _, o := range s.outlets {
		select {
		case o.queue <- outPacket{speaker: speaker, pkt: pkt}:
			queued++
		default:
			dropped++
		}
	}
	if queued != 0 {
		f.forwarded.Add(queued)
	}
	if dropped != 0 {
		f.slowChild.Add(dropped)
	}
	for _, k := range s.sinks {
		k.fn(speaker, pkt)
	}
}

// AddSink calls fn, on the writer's goroutine, for every forwarded packet
// until remove is called. fn must be quick and must not change the packet.
func (f *Forwarder) AddSink(fn func(speaker string, pkt *rtp.Packet)) (remove func()) {
	k := &sink{fn: fn}
	f.update(func(next *fanout) {
		if !next.closed {
			next.sinks = append(slices.Clip(next.sinks), k)
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			f.update(func(next *fanout) {
				next.sinks = slices.DeleteFunc(slices.Clone(next.sinks), func(x *sink) bool { return x == k })
			})
		})
	}
}

// attach adds a child link's outlet; the link reads the stage after attach,
// so it misses no change.
func (f *Forwarder) attach() *outlet {
	o := &outlet{queue: make(chan outPacket, outletQueue), changed: make(chan struct{}, 1)}
	f.update(func(next *fanout) {
		if !next.closed {
			next.outlets = append(slices.Clip(next.outlets), o)
		}
	})
	return o
}

// attachStandby adds a standby link's outlet: it learns of stage changes
// but is sent no packets until activate.
func (f *Forwarder) attachStandby() *outlet {
	o := &outlet{queue: make(chan outPacket, outletQueue), changed: make(chan struct{}, 1)}
	f.update(func(next *fanout) {
		if !next.closed {
			next.standbys = append(slices.Clip(next.standbys), o)
		}
	})
	return o
}

// activate moves a standby outlet among those sent every packet.
func (f *Forwarder) activate(o *outlet) {
	f.update(func(next *fanout) {
		if next.closed || !slices.Contains(next.standbys, o) {
			return
		}
		next.standbys = slices.DeleteFunc(slices.Clone(next.standbys), func(x *outlet) bool { return x == o })
		next.outlets = append(slices.Clip(next.outlets), o)
	})
}

// deactivate moves an activated standby outlet back among the standbys.
func (f *Forwarder) deactivate(o *outlet) {
	f.update(func(next *fanout) {
		if next.closed || !slices.Contains(next.outlets, o) {
			return
		}
		next.outlets = slices.DeleteFunc(slices.Clone(next.outlets), func(x *outlet) bool { return x == o })
		next.standbys = append(slices.Clip(next.standbys), o)
	})
}

func (f *Forwarder) detach(o *outlet) {
	f.update(func(next *fanout) {
		next.outlets = slices.DeleteFunc(slices.Clone(next.outlets), func(x *outlet) bool { return x == o })
		next.standbys = slices.DeleteFunc(slices.Clone(next.standbys), func(x *outlet) bool { return x == o })
	})
}

// Stats returns the counters and current attachments.
func (f *Forwarder) Stats() ForwarderStats {
	s := f.state.Load()
	return ForwarderStats{
		PacketsIn:         f.in.Load(),
		Forwarded:         f.forwarded.Load(),
		DroppedNotSpeaker: f.notSpeaker.Load(),
		DroppedSlowChild:  f.slowChild.Load(),
		Children:          len(s.outlets),
		Standbys:          len(s.standbys),
		Sinks:             len(s.sinks),
	}
}

// Done is closed when the Forwarder is closed.
func (f *Forwarder) Done() <-chan struct{} { return f.done }

// Close empties the stage, drops every sink and ends every link serving or
// fed by this Forwarder (ServeChild and DialParent return ErrForwarderClosed).
func (f *Forwarder) Close() {
	f.closeOnce.Do(func() {
		f.update(func(next *fanout) {
			*next = fanout{speakers: map[string]struct{}{}, closed: true}
		})
		close(f.done)
	})
}
