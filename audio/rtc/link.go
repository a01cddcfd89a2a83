package rtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/internal/lateness"
	"github.com/clubnode/clubnode/internal/wire"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

const (
	// heartbeatInterval paces heartbeat frames both ways on a link
	// stream, or a third of the link's timeout when that is shorter. A
	// child's heartbeat also goes at once when its subtree changes
	// (ParentOptions.SubtreeChanged), so the count needs no fast pace.
	// Each heartbeat costs both ends a QUIC packet, its ACK and about ten
	// goroutine wakeups: once a second both ways they were still a third
	// of a silent room's wakes (BENCHMARKS.md, "a cheaper node").
	heartbeatInterval = 5 * time.Second
	// defaultLinkTimeout is how long a link peer may stay silent: three
	// heartbeats. It is the backstop, not the first to notice: a peer
	// that dies or freezes stops answering ICE too, and ICE takes its
	// path for down after iceDisconnectedTimeout (2 s, api.go), which the
	// link takes for lost; a parent that dies while audio flows is
	// noticed sooner still, from its RTP stalling (stall.go); a stream
	// that ends is read as ended at once. What only heartbeats see is a
	// peer whose media path lives while its end of the stream hangs: the
	// audio still flows meanwhile, only a renegotiation would wait.
	defaultLinkTimeout = 3 * heartbeatInterval
	// connectTimeout bounds how long a link may take to connect its
	// PeerConnection, and how long an offer may wait for its answer:
	// longer than ICE's checks may run (api.go), with TURN allocations
	// across NATs.
	connectTimeout = 10 * time.Second
	// sdpQueue is how many offers, answers and candidates the reader
	// holds for the link's loop. Applying an offer can take the loop a
	// second on a starved machine; the reader must go on meanwhile, for
	// it records heartbeats and answers probes, and a candidate or two
	// behind one offer stopped it. At 64 KiB a frame at most, 1 MiB.
	sdpQueue = 16
	// streamID groups every track of a link; the track ID names the speaker.
	streamID = "clubnode"
)

// Why a link ended. DialParent and ServeChild wrap one of these.
var (
	ErrStreamClosed    = errors.New("signaling stream closed")
	ErrSilent          = errors.New("peer went silent")
	ErrConnectionLost  = errors.New("peer connection lost")
	ErrConnectTimeout  = errors.New("peer connection not established in time")
	ErrForwarderClosed = errors.New("forwarder closed")
)

// link is what both ends of a tree link share: the stream with its reader
// and heartbeat goroutines, the PeerConnection and its state, and the
// goroutines that belong to the link.
type link struct {
	log  *slog.Logger
	api  *API
	role string // RoleChild or RoleParent
	// standby is set while the link is a standby not yet activated.
	standby atomic.Bool
	label   LinkLabel // for LinkStats
	// statsGetter reads the link's streams from pion's stats interceptor.
	statsGetter stats.Getter
	ssrcMu      sync.Mutex // guards ssrcs, the senders' SSRCs (stats.go)
	ssrcs       map[*webrtc.RTPSender]uint32
	stream      io.ReadWriteCloser
	pc          *webrtc.PeerConnection
	work        *group.Group    // the link's goroutines and pion's OnTrack callbacks
	ctx         context.Context // work's: ends when the link closes
	start       time.Time

	writeMu sync.Mutex // one frame at a time on the stream

	statsMu sync.Mutex // guards closed and pion's GetStats (path.go)
	closed  bool

	lastHeard  atomic.Int64  // unix nanoseconds of the last heartbeat
	answered   atomic.Uint32 // number of the last probe the peer answered
	nAnswered  atomic.Uint64 // probes the peer answered
	answeredAt atomic.Int64  // unix nanoseconds of the last answer
	// subtree is what this end's heartbeats report (set before the
	// link's goroutines start).
	subtree   func() uint32
	lastMedia atomic.Int64 // unix nanoseconds of the last RTP packet
	// mediaWanted asks readTrack to signal mediaCame on the next packet
	// (a watcher sleeping until audio comes; see awaitMedia).
	mediaWanted  atomic.Bool
	mediaCame    chan struct{} // capacity 1
	stateChanged chan struct{}
	// disconnectedAt is when the loop first saw the PeerConnection
	// disconnected, zero while it is not (stateError).
	disconnectedAt time.Time
	sdp            chan signalFrame // offers, answers and candidates from the reader
	failed         chan error       // first failure of the reader or heartbeats

	// Trickle ICE (linktrickle.go): trickle is fixed at the start;
	// candMu guards described (this end's first description is out) and
	// queued (local candidates found before that); remoteCands is the
	// loop's count of the peer's.
	trickle     bool
	candMu      sync.Mutex
	described   bool
	queued      []string
	remoteCands int
}

// turnAsk is what a link shows and whom it asks for its TURN
// credentials (ParentOptions.Proof and TURNServers, ChildOptions').
type turnAsk struct {
	proof   []byte
	servers []string
}

func newLink(ctx context.Context, api *API, stream io.ReadWriteCloser, role string, label LinkLabel, trickle bool, ask turnAsk) (*link, error) {
	pc, getter, err := api.newStatsPeerConnection(api.linkICEServers(ctx, label.Peer, ask), true)
	if err != nil {
		return nil, err
	}
	work := group.New(ctx)
	l := &link{
		log:          api.log.With("link", role),
		api:          api,
		role:         role,
		label:        label,
		statsGetter:  getter,
		stream:       stream,
		pc:           pc,
		work:         work,
		ctx:          work.Context(),
		start:        time.Now(),
		stateChanged: make(chan struct{}, 1),
		mediaCame:    make(chan struct{}, 1),
		sdp:          make(chan signalFrame, sdpQueue),
		failed:       make(chan error, 1),
		trickle:      trickle,
	}
	l.lastHeard.Store(l.start.UnixNano())
	if trickle {
		pc.OnICECandidate(l.onLocalCandidate)
	}
	api.links.add(l)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		l.log.Debug("peer connection state", "state", s)
		select {
		case l.stateChanged <- struct{}{}:
		default: // the loop reads the current state, so one pending poke is enough
		}
	})
	return l, nil
}

// currentRole is the role LinkStats and LinkPaths report.
func (l *link) currentRole() string {
	switch {
	case !l.standby.Load():
		return l.role
	case l.role == RoleParent:
		return RoleStandbyParent
	default:
		return RoleStandbyChild
	}
}

// spawn runs fn on a goroutine the link owns.
func (l *link) spawn(fn func()) {
	l.work.Go(func(context.Context) { fn() })
}

// close ends the link: stop new goroutines, cancel the running ones, close
// the stream (unblocking its reader and writers) and the PeerConnection
// (ending track readers), then wait for all of them.
func (l *link) close() {
	l.work.Stop()
	l.api.links.remove(l)
	l.statsMu.Lock()
	l.closed = true // no GetStats from now on: pion's close races with it
	l.statsMu.Unlock()
	if err := l.stream.Close(); err != nil {
		l.log.Debug("close stream", "err", err)
	}
	if err := l.pc.GracefulClose(); err != nil {
		l.log.Debug("close peer connection", "err", err)
	}
	l.work.Wait()
}

// linkResult is what ServeChild and DialParent return for run's err: the
// caller's own cancellation as is, anything else as a loss.
func linkResult(ctx context.Context, loss string, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", loss, err)
	}
	return nil
}

func (l *link) fail(err error) {
	select {
	case l.failed <- err:
	default: // the first failure is the one reported
	}
}

func (l *link) send(m signalFrame) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := wire.WriteFrame(l.stream, m); err != nil {
		return fmt.Errorf("%w: send %s: %w", ErrStreamClosed, m.Kind, err)
	}
	return nil
}

// readLoop reads frames until the stream fails: heartbeats are handled
// here, offers, answers and candidates go to the link's loop in the
// order they came.
func (l *link) readLoop(onHeartbeat func(signalFrame)) {
	r := wire.NewReader(l.stream, maxSignalFrame)
	for {
		m, err := readSignal(r)
		if err != nil {
			if isDecodeError(err) {
				l.fail(fmt.Errorf("bad signaling frame: %w", err))
			} else {
				l.fail(fmt.Errorf("%w: %w", ErrStreamClosed, err))
			}
			return
		}
		switch m.Kind {
		case kindHeartbeat:
			l.lastHeard.Store(time.Now().UnixNano())
			if m.Probe != 0 {
				l.answeredAt.Store(time.Now().UnixNano())
				l.answered.Store(m.Probe)
				l.nAnswered.Add(1)
			}
			if onHeartbeat != nil {
				onHeartbeat(m)
			}
			continue
		case kindProbe:
			if err := l.send(signalFrame{Kind: kindHeartbeat, Subtree: l.heartbeatSubtree(), Probe: m.Probe}); err != nil {
				l.fail(err)
				return
			}
			continue
		}
		select {
		case l.sdp <- m:
		case <-l.ctx.Done():
			return
		}
	}
}

func isDecodeError(err error) bool {
	return errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTooLarge) ||
		errors.Is(err, ErrProtocol) || errors.Is(err, ErrBadSDP)
}

func (l *link) heartbeatSubtree() uint32 {
	if l.subtree == nil {
		return 0
	}
	return l.subtree()
}

// heartbeatEvery is how often a link whose peer may be silent for
// timeout sends heartbeats: every heartbeatInterval, and at least three
// times per timeout (both ends of a link use the same).
func heartbeatEvery(timeout time.Duration) time.Duration {
	return max(min(heartbeatInterval, timeout/3), 10*time.Millisecond)
}

// heartbeatLoop sends a heartbeat now and every heartbeatEvery(timeout),
// and at once whenever changed (nil: never) is signalled and the subtree
// to report is not the one last sent.
func (l *link) heartbeatLoop(timeout time.Duration, changed <-chan struct{}) {
	tick := time.NewTicker(heartbeatEvery(timeout))
	defer tick.Stop()
	for {
		sent := l.heartbeatSubtree()
		if err := l.send(signalFrame{Kind: kindHeartbeat, Subtree: sent}); err != nil {
			l.fail(err)
			return
		}
		for due := false; !due; {
			select {
			case <-l.ctx.Done():
				return
			case <-tick.C:
				due = true
			case <-changed:
				due = l.heartbeatSubtree() != sent
			}
		}
	}
}

// stateError reports a PeerConnection that is gone, and whether it is
// connected. The link's loop calls it on every state change and check.
//
// ICE calls a path disconnected when its own goroutine finds no packet
// for iceDisconnectedTimeout. A process starved (or stopped) for that
// long finds every path down at once on waking, while the peers are alive
// and their packets wait in its sockets. So a starved process gives a
// disconnected path the scheduling slack (lateness.Slack) to come back:
// ICE reconnects on the next packet. A process that is not starved takes
// it for lost at once, as before.
func (l *link) stateError() (connected bool, err error) {
	s := l.pc.ConnectionState()
	if s != webrtc.PeerConnectionStateDisconnected {
		l.disconnectedAt = time.Time{}
	}
	switch s {
	case webrtc.PeerConnectionStateConnected:
		return true, nil
	case webrtc.PeerConnectionStateDisconnected:
		now := time.Now()
		if l.disconnectedAt.IsZero() {
			l.disconnectedAt = now
		}
		grace := lateness.Slack(0, iceDisconnectedTimeout)
		if f := disconnectedGrace.Load(); f != nil {
			grace = (*f)()
		}
		if grace >= starved && now.Sub(l.disconnectedAt) < grace {
			return false, nil
		}
		return false, fmt.Errorf("%w: state %s (ICE %s)", ErrConnectionLost, s, l.pc.ICEConnectionState())
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		return false, fmt.Errorf("%w: state %s (ICE %s)", ErrConnectionLost, s, l.pc.ICEConnectionState())
	default:
		return false, nil
	}
}

// starved is the slack below which a process counts as not starved: its
// goroutines run within a few milliseconds of becoming runnable.
const starved = 20 * time.Millisecond

// disconnectedGrace, if set, replaces a disconnected path's grace (tests
// inject a starved process).
var disconnectedGrace atomic.Pointer[func() time.Duration]

// checkInterval is how often a link checks for silence: four times per
// timeout, so it notices within a quarter timeout of it passing.
func checkInterval(timeout time.Duration) time.Duration {
	return max(timeout/4, 10*time.Millisecond)
}

// lifeWatch is a link loop's check that its peer lives (checkLife), on a
// timer that fires when the peer's silence would be due: a timeout after
// the last sign of life, and every checkInterval(timeout) from then on (or
// while the path is not connected). A healthy link's loop so wakes about
// once per timeout instead of four times: each wake finds a newer
// heartbeat and sleeps again until that one's timeout (a silent room's
// members wake mostly for such checks; BENCHMARKS.md, "a cheaper node").
//
// A starved loop reads its peer's heartbeats late: the silence it
// measures is partly its own, so it waits twice its own lateness longer,
// and the process's scheduling delay per hand-off (lateness.Slack), as
// watchFlow does, before it gives up a peer that may be healthy. Both
// ends of a link watch so.
type lifeWatch struct {
	timer          *time.Timer
	every, timeout time.Duration
	late           *lateness.Meter
	mediaCounts    bool // RTP counts as a sign of life besides heartbeats
}

// watchLife starts a loop's lifeWatch; late is the meter of its own
// lateness (nil: a new one; tests inject a starved loop).
func watchLife(timeout time.Duration, late *lateness.Meter, mediaCounts bool) *lifeWatch {
	if late == nil {
		late = &lateness.Meter{}
	}
	w := &lifeWatch{every: checkInterval(timeout), timeout: timeout, late: late, mediaCounts: mediaCounts}
	w.timer = time.NewTimer(w.every)
	late.Expect(time.Now().Add(w.every))
	return w
}

// C fires when the loop should call checkLife.
func (w *lifeWatch) C() <-chan time.Time { return w.timer.C }

func (w *lifeWatch) stop() { w.timer.Stop() }

// checkLife runs each time w fires: it fails a peer silent past the
// timeout and the loop's slack, or a disconnected path whose grace ran
// out (stateError), and sets w's next wake.
func (l *link) checkLife(w *lifeWatch) error {
	now := time.Now()
	lag := w.late.Woke(now)
	if err := l.silence(w.timeout+lateness.Slack(lag, 2*w.timeout), w.mediaCounts); err != nil {
		return err
	}
	connected, err := l.stateError()
	if err != nil {
		return err
	}
	next := w.every
	if connected {
		next = nextLifeCheck(now, l.lastSign(w.mediaCounts), w.every, w.timeout)
	}
	w.timer.Reset(next)
	w.late.Expect(now.Add(next))
	return nil
}

// nextLifeCheck is how long after now a connected link checks its peer
// again: when the silence since last would reach timeout, at least every
// and at most timeout away (the loops' connect deadlines ride on the same
// wake).
func nextLifeCheck(now, last time.Time, every, timeout time.Duration) time.Duration {
	return min(max(last.Add(timeout).Sub(now), every), timeout)
}

// lastSign is when the peer last showed it lives: its last heartbeat, or
// RTP too if mediaCounts.
func (l *link) lastSign(mediaCounts bool) time.Time {
	last := l.lastHeard.Load()
	if mediaCounts {
		last = max(last, l.lastMedia.Load())
	}
	return time.Unix(0, last)
}

// silence reports a peer quiet for longer than timeout; mediaCounts says
// whether RTP counts as a sign of life besides heartbeats.
func (l *link) silence(timeout time.Duration, mediaCounts bool) error {
	what := "heartbeat"
	if mediaCounts {
		what = "heartbeat or RTP"
	}
	if quiet := time.Since(l.lastSign(mediaCounts)); quiet > timeout {
		return fmt.Errorf("%w: no %s for %s", ErrSilent, what, quiet.Round(time.Millisecond))
	}
	return nil
}

// readTrack passes every RTP packet of track to deliver until the track
// ends. Each packet gets its own exactly-sized buffer because the Forwarder
// and its sinks may keep packets (a jitter buffer does).
func readTrack(log *slog.Logger, track *webrtc.TrackRemote, deliver func(*rtp.Packet)) {
	buf := make([]byte, 1500)
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		pkt := &rtp.Packet{}
		if err := pkt.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			log.Debug("undecodable RTP dropped", "track", track.ID(), "err", err)
			continue
		}
		deliver(pkt)
	}
}

// readTrack is readTrack that also counts packets as signs of life.
func (l *link) readTrack(track *webrtc.TrackRemote, deliver func(*rtp.Packet)) {
	readTrack(l.log, track, func(pkt *rtp.Packet) {
		l.lastMedia.Store(time.Now().UnixNano())
		if l.mediaWanted.Load() { // a plain read per packet; the swap only when wanted
			l.signalMedia()
		}
		deliver(pkt)
	})
}

// awaitMedia has mediaCame signal once a packet newer than last comes
// (at once if one already has). One watcher waits on it.
func (l *link) awaitMedia(last int64) {
	l.mediaWanted.Store(true)
	if l.lastMedia.Load() != last {
		l.signalMedia()
	}
}

// signalMedia wakes the watcher of awaitMedia, once: whichever of the
// packet and awaitMedia's own check takes the want first.
func (l *link) signalMedia() {
	if l.mediaWanted.CompareAndSwap(true, false) {
		select {
		case l.mediaCame <- struct{}{}:
		default:
		}
	}
}

// drainRTCP reads a sender's RTCP so the interceptors see it (NACKs reach
// the responder this way) until the sender stops.
func drainRTCP(sender *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := sender.Read(buf); err != nil {
			return
		}
	}
}

// drainReceiverRTCP reads a receiver's RTCP so the interceptors see the
// peer's sender reports: the receiver reports this end sends quote them,
// and that is how the peer measures the round trip.
func drainReceiverRTCP(receiver *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := receiver.Read(buf); err != nil {
			return
		}
	}
}

// stripExtensions clears header extensions: their IDs were negotiated on
// the link the packet came in on and mean nothing on the next one.
func stripExtensions(h *rtp.Header) {
	h.Extension = false
	h.ExtensionProfile = 0
	h.Extensions = nil
}
