package roomnet

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/audio/mediasig"
	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/rooms"
)

// retryBackoff is how long a node waits before asking the host again after
// a failed placement or link.
const retryBackoff = 150 * time.Millisecond

// mediaSession is one room's media on this node: the forwarder every link
// and local listener hangs on, the uplink for this node's own voice, the
// link to its parent and the links to its children. On the host it also
// holds the relay tree.
type mediaSession struct {
	m       *media
	room    rooms.RoomID
	fwd     *rtc.Forwarder
	uplink  *rtc.Uplink
	voice   voice            // this node's own stream, kept continuous across sources
	signer  *mediasig.Signer // signs this node's own stream (nil: the key cannot)
	guard   *guard           // verifies every stream before it is played here
	keys    *roomKeys        // a closed room's end-to-end keys (e2e.go)
	hosting atomic.Bool      // this node hosts the room: its voice skips the uplink
	wake    chan struct{}    // follow's: the state changed
	wakeUp  chan struct{}    // upstream's: the state changed
	spoke   chan struct{}    // tailLoop's: this node's voice sent a packet
	// resized is the parent link's (rtc.ParentOptions.SubtreeChanged):
	// the subtree this node reports up may have changed.
	resized chan struct{}
	work    *group.Group
	ctx     context.Context // work's: ends when the session stops

	// mu guards the fields below; it is never held while calling out.
	mu   sync.Mutex
	host peer.ID // host the tree below belongs to
	// hostChanged is closed when the room's host changes (and replaced):
	// a question to the old host, which may be dead, is cut short by it.
	hostChanged chan struct{}
	tree        *rooms.Tree
	// checkingLost are the relays the host is pinging after a child
	// reported them lost (lost.go).
	checkingLost map[peer.ID]bool
	parent       peer.ID
	backups      []peer.ID // the backups of the assignment in force
	linkCancel   context.CancelFunc
	children     map[peer.ID]*childLink
	standbys     map[peer.ID]*childLink // children's standby links to this backup (standby.go)
	standby      *standbys              // upstream's own standby link, while it runs

	// Speaker signatures (report.go): when this node last reported its
	// parent, and the parent it left for that (to avoid when placed
	// again); on the host, who accused which relay and when, when each
	// node last reported anything, and the relays blamed, which carry
	// nobody any more.
	blamedAt   time.Time
	avoidNext  peer.ID
	accusers   map[peer.ID]map[peer.ID]time.Time
	reported   map[peer.ID]time.Time
	distrusted map[peer.ID]bool
	down       *rtc.Forwarder // what child links are served from: fwd (a malicious relay's own in attack tests)
}

type childLink struct {
	cancel  context.CancelFunc
	subtree int
}

func (m *media) newSession(id rooms.RoomID) *mediaSession {
	work := group.New(m.work.Context())
	ms := &mediaSession{m: m, room: id, fwd: rtc.NewForwarder(m.log.With("room", id)), uplink: rtc.NewUplink(),
		wake: make(chan struct{}, 1), wakeUp: make(chan struct{}, 1), spoke: make(chan struct{}, 1), resized: make(chan struct{}, 1), work: work, ctx: work.Context(),
		children: map[peer.ID]*childLink{}, standbys: map[peer.ID]*childLink{}, hostChanged: make(chan struct{}),
		accusers: map[peer.ID]map[peer.ID]time.Time{}, reported: map[peer.ID]time.Time{}, distrusted: map[peer.ID]bool{}}
	ms.down = ms.fwd
	ms.keys = newRoomKeys(id)
	ms.signer, ms.guard = m.mediaSigning(id, ms.decrypt, ms.tampered)
	ms.fwd.AddSink(ms.guard.enqueue)
	work.Go(ms.follow)
	work.Go(ms.upstream)
	work.Go(ms.keyLoop)
	work.Go(ms.guard.run)
	work.Go(ms.tailLoop)
	return ms
}

func (ms *mediaSession) stop() {
	ms.work.Close()
	ms.fwd.Close()
}

func (ms *mediaSession) self() peer.ID { return ms.m.self() }

func (ms *mediaSession) downstream() *rtc.Forwarder {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.down
}

// subtreeChanged tells the parent link that this node's subtree
// (children and their reported sizes) changed, so that its next heartbeat
// goes now; called with or without ms.mu.
func (ms *mediaSession) subtreeChanged() {
	select {
	case ms.resized <- struct{}{}:
	default:
	}
}

func (ms *mediaSession) notify() {
	for _, c := range []chan struct{}{ms.wake, ms.wakeUp} {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// follow applies each new room state to the media: who may be heard, who
// may stay linked, and on the host the tree.
func (ms *mediaSession) follow(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ms.wake:
		}
		st, ok := ms.m.states.State(ms.room)
		if !ok {
			continue
		}
		speakers := audible(st.State)
		ms.fwd.SetSpeakers(speakers)
		ms.guard.keep(speakers)
		ms.followKeys(st)
		ms.hosting.Store(st.Host == ms.self())
		ms.mu.Lock()
		ms.applyState(st)
		ms.mu.Unlock()
	}
}

// applyState brings the links and the tree in line with st. Callers hold mu.
func (ms *mediaSession) applyState(st *rooms.SignedState) {
	// The host changed (a takeover, a handover) and this node hung under
	// the old one: move now rather than wait for the link to time out.
	hostGone := ms.host != "" && ms.host != st.Host && ms.parent == ms.host
	if ms.host != st.Host {
		close(ms.hostChanged)
		ms.hostChanged = make(chan struct{})
	}
	if st.Host == ms.self() && ms.host != ms.self() {
		// This node became the host: it starts a tree of its own and
		// learns the rest as nodes come asking or report in.
		ms.tree = rooms.NewTree(ms.self(), ms.m.capacity)
		ms.tree.SetRootTraits(ms.m.ownTraits())
		ms.host = ms.self()
	}
	if st.Host != ms.self() {
		ms.tree, ms.host = nil, st.Host
	}
	for child, l := range ms.children {
		if !st.InRoom(child) {
			l.cancel()
			delete(ms.children, child)
			if ms.tree != nil {
				ms.tree.Remove(child)
			}
		}
	}
	for child, l := range ms.standbys {
		if !st.InRoom(child) {
			l.cancel()
			delete(ms.standbys, child)
		}
	}
	if ms.tree != nil {
		for _, p := range ms.tree.Nodes() {
			if !st.InRoom(p) {
				ms.tree.Remove(p)
			}
		}
	}
	// On stage means under the host; a listener just invited up, or a
	// node whose parent was the old host, moves.
	replace := ms.linkCancel != nil && ms.parent != "" && st.Host != ms.self() &&
		st.OnStage(ms.self()) && ms.parent != st.Host
	if (st.Host == ms.self() || hostGone) && ms.linkCancel != nil {
		replace = true
	}
	if replace {
		ms.linkCancel()
	}
}

// audible lists the peers whose audio the room carries: those on stage and
// not muted. Everyone else is dropped at the first hop.
func audible(s rooms.State) []string {
	out := make([]string, 0, len(s.Speakers))
	for _, sp := range s.Speakers {
		if !sp.Muted {
			out = append(out, sp.Peer.String())
		}
	}
	return out
}

// waitWake waits for a state change, or d if d > 0; false when stopping.
func (ms *mediaSession) waitWake(ctx context.Context, d time.Duration) bool {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-ms.wakeUp:
		return true
	case <-timer:
		return true
	}
}

func (ms *mediaSession) childIDs() [][]byte {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := make([][]byte, 0, len(ms.children))
	for c := range ms.children {
		out = append(out, []byte(c))
	}
	return out
}

// subtree counts this node and every node below it, from its children's
// heartbeats: the listener count summed up the tree.
func (ms *mediaSession) subtree() int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	n := 1
	for _, l := range ms.children {
		n += l.subtree
	}
	return n
}

// askParentOf asks st's host for a parent, giving up as soon as the room
// has another host: after a takeover the old one is usually dead, and the
// question is for the new one.
func (ms *mediaSession) askParentOf(ctx context.Context, st *rooms.SignedState, avoid, under peer.ID) (*rooms.SignedAssignment, error) {
	ms.mu.Lock()
	changed := ms.hostChanged
	if ms.host != "" && ms.host != st.Host {
		changed = nil // the state read is already behind; ask anyway
	}
	ms.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if changed != nil {
		go func() { // ends with this call (deferred cancel) at the latest
			select {
			case <-changed:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ms.askParent(ctx, st, avoid, under)
}
