package rtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/lateness"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
)

// virtualNet is pion's in-memory network with two hosts, a parent and a
// child, whose traffic the test can cut without closing any socket: the
// parent looks dead to the child exactly as a killed process or a pulled
// cable would. The addresses are a documentation range and exist only in
// memory.
type virtualNet struct {
	router     *vnet.Router
	parentAPI  *API
	childAPI   *API
	parentCut  atomic.Bool
	parentAddr string
}

func newVirtualNet(t *testing.T) *virtualNet {
	t.Helper()
	v := &virtualNet{parentAddr: "198.51.100.1"}
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "198.51.100.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	v.router = router
	router.AddChunkFilter(func(c vnet.Chunk) bool {
		if !v.parentCut.Load() {
			return true
		}
		src, _, _ := net.SplitHostPort(c.SourceAddr().String())
		dst, _, _ := net.SplitHostPort(c.DestinationAddr().String())
		return src != v.parentAddr && dst != v.parentAddr
	})
	host := func(ip string) *API {
		nw, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := router.AddNet(nw); err != nil {
			t.Fatal(err)
		}
		return newTestAPI(t, Config{Setting: func(s *webrtc.SettingEngine) { s.SetNet(nw) }})
	}
	v.parentAPI = host(v.parentAddr)
	v.childAPI = host("198.51.100.2")
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := router.Stop(); err != nil {
			t.Error(err)
		}
	})
	return v
}

// deadPeerConn is the parent's end of the signaling stream, able to play
// dead. Frozen, it neither sends nor delivers anything; with keepOpen,
// closing it leaves the child's end open. Together: a hung or killed peer
// whose TCP connection has not been reset. Muted, it only stops sending.
type deadPeerConn struct {
	net.Conn
	frozen   atomic.Bool
	muted    atomic.Bool
	keepOpen atomic.Bool
	closed   atomic.Bool
	writes   atomic.Int64 // frames sent on (one Write each)
}

func (c *deadPeerConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if c.closed.Load() {
			return 0, io.ErrClosedPipe
		}
		if !c.frozen.Load() || err != nil {
			return n, err
		}
	}
}

func (c *deadPeerConn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, io.ErrClosedPipe
	}
	if c.frozen.Load() || c.muted.Load() {
		return len(p), nil
	}
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func (c *deadPeerConn) Close() error {
	c.closed.Store(true)
	if c.keepOpen.Load() {
		// Unblock our own reader and writers without the child noticing.
		return c.Conn.SetDeadline(time.Now())
	}
	return c.Conn.Close()
}

// lostCase is one way a parent dies.
type lostCase struct {
	name           string
	cutNetwork     bool
	freezeStream   bool
	keepStreamOpen bool
	closeStream    bool
	stall          time.Duration // watch the flow (ParentOptions.Stall)
	want           []error
	resumeAndGaps  bool
}

// A parent that dies without a goodbye makes DialParent return within about
// Timeout plus ICE slack, with an error that says why; a new DialParent to
// another parent then resumes delivery into the same Forwarder.
func TestParentLost(t *testing.T) {
	cases := []lostCase{
		// The parent's ServeChild sees the closed stream too and closes its
		// PeerConnection, which the child may hear of first.
		{name: "stream closed", closeStream: true, want: []error{ErrStreamClosed, ErrConnectionLost}},
		// The parent notices too and gives up, but its stream stays open:
		// only ICE can tell the child.
		{name: "network cut", cutNetwork: true, keepStreamOpen: true, want: []error{ErrConnectionLost}},
		// Heartbeats stop and ICE goes quiet at once: either may win.
		{name: "process dead", cutNetwork: true, freezeStream: true, keepStreamOpen: true,
			want: []error{ErrConnectionLost, ErrSilent}, resumeAndGaps: true},
		// Watching the flow, the stalled RTP and the unanswered probe tell
		// first, long before the heartbeats' or ICE's timeouts.
		{name: "process dead, flow watched", cutNetwork: true, freezeStream: true, keepStreamOpen: true,
			stall: 60 * time.Millisecond, want: []error{ErrStalled}, resumeAndGaps: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newLostRig(t, tc.stall)
			killedAt := time.Now()
			r.kill(tc)
			detected := r.awaitLoss(t, tc, killedAt)
			if tc.resumeAndGaps {
				r.resume(t, killedAt, detected)
			}
		})
	}
}

// lostRig is a child linked to a parent that can play dead, on the
// virtual network, and a second parent fed the same packets by the room's
// root, to re-parent to.
type lostRig struct {
	v                *virtualNet
	stream           net.Conn // the parent's end of the signaling stream
	parentEnd        *deadPeerConn
	childEnd         *deadPeerConn // the child's end, able to fall silent
	parentDone       chan error
	newParent, child *Forwarder
	got              *collector
	childDone        chan error
	stopFeed         func() // the roots' audio stops
}

// newLostRig links the child and waits until the first parent's audio
// reaches it. Everything stops when the test ends.
func newLostRig(t *testing.T, stall time.Duration) *lostRig {
	return newLostRigWith(t, ParentOptions{Stall: stall}, ChildOptions{})
}

// newLostRigWith is newLostRig with the child's options for its first
// parent and that parent's for the child.
func newLostRigWith(t *testing.T, po ParentOptions, co ChildOptions) *lostRig {
	r := &lostRig{v: newVirtualNet(t), newParent: newTestForwarder(t, "alice"), child: newTestForwarder(t, "alice"),
		got: newCollector(), childDone: make(chan error, 1)}
	oldParent := newTestForwarder(t, "alice")
	t.Cleanup(r.child.AddSink(r.got.sink))
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close() })
	r.stream, r.parentEnd, r.childEnd = a, &deadPeerConn{Conn: a}, &deadPeerConn{Conn: b}
	ctx, cancel := context.WithCancel(context.Background())
	r.parentDone = make(chan error, 1)
	go func() { r.parentDone <- ServeChild(ctx, r.v.parentAPI, r.parentEnd, oldParent, co) }()
	go func() { r.childDone <- DialParent(ctx, r.v.childAPI, r.childEnd, r.child, po) }()
	t.Cleanup(func() { cancel(); <-r.parentDone })

	feedCtx, stopFeed := context.WithCancel(context.Background())
	r.stopFeed = stopFeed
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		pump(feedCtx, 5*time.Millisecond, "p", func(s string, pkt *rtp.Packet) {
			oldParent.Write(s, pkt)
			r.newParent.Write(s, pkt)
		}, &source{speaker: "alice", ssrc: 7})
	}()
	t.Cleanup(func() { stopFeed(); <-fed })
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(r.got.payloads("alice")) < 20 {
			return errors.New("no audio from the first parent yet")
		}
		return nil
	})
	return r
}

// kill has the first parent die the case's way.
func (r *lostRig) kill(tc lostCase) {
	r.parentEnd.keepOpen.Store(tc.keepStreamOpen)
	if tc.freezeStream {
		r.parentEnd.frozen.Store(true)
	}
	if tc.cutNetwork {
		r.v.parentCut.Store(true)
	}
	if tc.closeStream {
		r.stream.Close()
	}
}

// awaitLoss waits for DialParent to give the parent up, checks why, and
// says how long it took.
func (r *lostRig) awaitLoss(t *testing.T, tc lostCase, killedAt time.Time) time.Duration {
	var err error
	select {
	case err = <-r.childDone:
	case <-time.After(10 * time.Second):
		t.Fatal("DialParent still running 10s after its parent died")
	}
	detected := time.Since(killedAt)
	matched := false
	for _, w := range tc.want {
		matched = matched || errors.Is(err, w)
	}
	if !matched {
		t.Fatalf("DialParent returned %v, want one of %v", err, tc.want)
	}
	t.Logf("parent lost after %s: %v", detected.Round(time.Millisecond), err)
	return detected
}

// resume links the child to the second parent and logs the audio gap.
func (r *lostRig) resume(t *testing.T, killedAt time.Time, detected time.Duration) {
	before := len(r.got.payloads("alice"))
	lastBefore := r.got.lastArrival("alice")
	l := connect(t, newTestAPI(t, Config{}), r.newParent, newTestAPI(t, Config{}), r.child, ChildOptions{}, ParentOptions{})
	defer l.stop()
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(r.got.payloads("alice")) <= before {
			return errors.New("no audio from the new parent yet")
		}
		return nil
	})
	first := r.got.arrivals("alice")[before]
	t.Logf("audio gap across re-parenting: %s (detection %s, reconnect %s)",
		first.Sub(lastBefore).Round(time.Millisecond), detected.Round(time.Millisecond),
		first.Sub(killedAt.Add(detected)).Round(time.Millisecond))
}

// A parent that stops sending RTP but is alive (the speaker paused, or a
// link above it is being repaired) answers the probe, and the link stays:
// when the audio comes back it flows on the same link.
func TestStalledParentThatAnswersStays(t *testing.T) {
	parentAPI, childAPI := newTestAPI(t, Config{}), newTestAPI(t, Config{})
	parent := newTestForwarder(t, "alice")
	child := newTestForwarder(t, "alice")
	got := newCollector()
	defer child.AddSink(got.sink)()
	l := connect(t, parentAPI, parent, childAPI, child, ChildOptions{}, ParentOptions{Stall: 40 * time.Millisecond})
	src := &source{speaker: "alice", ssrc: 9}
	warmUp(t, got, parent.Write, src)
	answered := func() uint64 {
		var n uint64
		for _, s := range childAPI.LinkStats(nil) {
			n += s.ProbesAnswered
		}
		return n
	}
	before := answered()
	// The feed is stopped now (warmUp returned): the child probes.
	testutil.Eventually(t, 5*time.Second, func() error {
		if answered() == before {
			return errors.New("no probe answered yet")
		}
		return nil
	})
	l.up(t)
	n := len(got.payloads("alice"))
	burst(10, 5*time.Millisecond, "again", parent.Write, src)
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(got.payloads("alice")) < n+10 {
			return errors.New("audio not back on the same link")
		}
		return nil
	})
	l.up(t)
}

// starvedTimeout is the starved-loop tests' link timeout: shorter than
// the default, so that twice it passes quickly, and long enough for ICE.
const starvedTimeout = time.Second

// A child sends its heartbeats at their slow pace while nothing changes:
// each is a QUIC packet, its ACK and wakeups on both ends. A change of its
// subtree goes to the parent at once, though, not at the next one.
func TestSubtreeChangeGoesUpAtOnce(t *testing.T) {
	var size atomic.Int64
	size.Store(1)
	changed := make(chan struct{}, 1)
	sizes := make(chan int, 16)
	r := newLostRigWith(t, ParentOptions{Subtree: func() int { return int(size.Load()) }, SubtreeChanged: changed},
		ChildOptions{OnSubtree: func(n int) { sizes <- n }})
	awaitSize := func(want int, within time.Duration) {
		t.Helper()
		select {
		case n := <-sizes:
			if n != want {
				t.Fatalf("parent told subtree %d, want %d", n, want)
			}
		case <-time.After(within):
			t.Fatalf("parent not told subtree %d within %v", want, within)
		}
	}
	awaitSize(1, 5*time.Second)

	// Nothing changes for 3 s: at most the one heartbeat due meanwhile
	// (heartbeatInterval is 5 s; at the old pace of one a second, three).
	before := r.childEnd.writes.Load()
	changed <- struct{}{}       // a signal with the size unchanged sends nothing
	time.Sleep(3 * time.Second) // the quiet being measured, not a wait for an event
	if n := r.childEnd.writes.Load() - before; n > 1 {
		t.Fatalf("child sent %d frames in 3 s with nothing to say, want at most 1", n)
	}

	size.Store(4)
	changed <- struct{}{}
	awaitSize(4, 2*time.Second)
}

// A starved child reads its parent's heartbeats late: the silence it
// measures is its own, so it waits twice its own lateness before it
// gives the parent up. Here the child's parent-loss check is known to
// run an hour late, and a parent silent for twice the link timeout
// (heartbeats and audio stopped, ICE up, the child still heard) is kept.
func TestStarvedChildKeepsItsParent(t *testing.T) {
	late := &lateness.Meter{}
	late.Record(time.Hour)
	r := newLostRigWith(t, ParentOptions{late: late, Timeout: starvedTimeout}, ChildOptions{Timeout: starvedTimeout})
	r.stopFeed()
	r.parentEnd.muted.Store(true) // no heartbeats to the child
	select {
	case err := <-r.childDone:
		t.Fatalf("a child whose own checks run an hour late gave its parent up: %v", err)
	case <-time.After(2 * starvedTimeout):
	}
}

// A starved parent reads its child's heartbeats late, as a starved child
// does its parent's: it waits twice its own lateness before it gives the
// child up. Here the parent's child-loss check is known to run an hour
// late, and a child silent for twice the link timeout (heartbeats
// stopped, ICE up) is kept.
func TestStarvedParentKeepsItsChild(t *testing.T) {
	late := &lateness.Meter{}
	late.Record(time.Hour)
	r := newLostRigWith(t, ParentOptions{Timeout: starvedTimeout}, ChildOptions{late: late, Timeout: starvedTimeout})
	r.childEnd.muted.Store(true) // no heartbeats to the parent
	select {
	case err := <-r.parentDone:
		r.parentDone <- err // for the cleanup
		t.Fatalf("a parent whose own checks run an hour late gave its child up: %v", err)
	case err := <-r.childDone:
		t.Fatalf("the child gave its parent up: %v", err)
	case <-time.After(2 * starvedTimeout):
	}
}

// A starved process finds its ICE paths disconnected on waking, though
// the peers are alive: it gives a disconnected path the scheduling slack
// to come back. Here the process is known to be starved (a second's
// scheduling delay), the media path is cut until the child's ICE calls it
// disconnected, then restored: the link stays, and audio comes back on it.
func TestStarvedLinkOutlastsADisconnectedPath(t *testing.T) {
	starved := func() time.Duration { return 5 * time.Second }
	disconnectedGrace.Store(&starved)
	t.Cleanup(func() { disconnectedGrace.Store(nil) })
	r := newLostRig(t, 0)
	r.v.parentCut.Store(true)
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, l := range r.v.childAPI.links.live() {
			if s := l.pc.ConnectionState(); s != webrtc.PeerConnectionStateDisconnected {
				return fmt.Errorf("child's link %s", s)
			}
		}
		return nil
	})
	n := len(r.got.payloads("alice"))
	r.v.parentCut.Store(false)
	testutil.Eventually(t, 10*time.Second, func() error {
		select {
		case err := <-r.childDone:
			t.Fatalf("the child gave its parent up: %v", err)
		default:
		}
		if len(r.got.payloads("alice")) < n+20 {
			return errors.New("audio not back on the same link")
		}
		return nil
	})
}
