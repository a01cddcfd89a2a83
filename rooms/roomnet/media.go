package roomnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/rooms"
)

// The media plane: each room this node is in has a media session (its
// forwarder, its link up to a parent, its links down to children). The
// host decides where everyone hangs (placement.go); a child opens the link
// its assignment names (link.go); the session follows the room's state
// (mediasession.go).

// roomStates is the one thing the media plane asks of the rooms service:
// the room's current signed state.
type roomStates interface {
	State(id rooms.RoomID) (*rooms.SignedState, bool)
}

// mediaView is the media plane's narrow view of the node: who it is, how
// it reaches peers and signs, the clock, and the rooms' states.
type mediaView struct {
	host   host.Host
	key    crypto.PrivKey
	now    func() time.Time
	states roomStates
	log    *slog.Logger
}

func (v mediaView) self() peer.ID { return v.host.ID() }

// media runs this node's part of every room's relay tree.
type media struct {
	mediaView
	api      *rtc.API
	capacity int                 // declared (Config.RelayCapacity)
	uplink   *uplinkGuard        // what the uplink carries of it (uplink.go)
	traits   func() rooms.Traits // this node's; nil says nothing
	// turnServers are the always-on nodes this node asks for a link's
	// TURN credentials (Config.TURNServers); nil names none.
	turnServers func() []peer.ID
	// standbyLinks: as a listener, keep a standby link to the first
	// backup (Config.StandbyLinks).
	standbyLinks bool
	timeout      time.Duration
	stall        time.Duration // rtc.ParentOptions.Stall; 0 off
	work         *group.Group  // the change loop; sessions have their own
	repairs      atomic.Uint64 // parent links lost and looked for again (metrics)
	failovers    atomic.Uint64 // links opened to a backup parent (metrics)
	// standbyActivations counts failovers that activated a standby link
	// (standby.go) rather than opening a new one.
	standbyActivations atomic.Uint64
	// lostRemoved counts relays this host took out of its trees after a
	// child reported them lost and they did not answer (lost.go).
	lostRemoved atomic.Uint64
	lostChecks  atomic.Uint64 // pings of such relays answered or not

	mu       sync.Mutex
	sessions map[rooms.RoomID]*mediaSession
	pending  map[rooms.RoomID]struct{}
	kick     chan struct{}
}

// defaultStall is MediaStall's default: three Opus packets missed.
const defaultStall = 60 * time.Millisecond

// probeTimeout is how long a child waits for its parent to answer a probe
// before it counts the parent lost (the wait grows to three times this on
// a link whose answers come slowly). It must outlast a round trip between
// continents and a busy parent's scheduling: at 100 ms, every child of a
// healthy relay on a loaded machine gave up on it at once after one pause
// of the speaker's.
const probeTimeout = 250 * time.Millisecond

func newMedia(ctx context.Context, view mediaView, api *rtc.API, capacity int, timeout, stall time.Duration) *media {
	switch {
	case stall == 0:
		stall = defaultStall
	case stall < 0:
		stall = 0
	}
	capacity = min(max(capacity, 0), rooms.MaxRelayCapacity)
	return &media{mediaView: view, api: api, capacity: capacity, uplink: newUplinkGuard(capacity), timeout: timeout, stall: stall,
		work: group.New(ctx), sessions: map[rooms.RoomID]*mediaSession{},
		pending: map[rooms.RoomID]struct{}{}, kick: make(chan struct{}, 1)}
}

// ownTraits are this node's traits, as it announces them.
func (m *media) ownTraits() rooms.Traits {
	if m.traits == nil {
		return rooms.Traits{}
	}
	return m.traits()
}

func (m *media) start() {
	ctx := m.work.Context()
	placeProto.Handle(ctx, m.host, m.place)
	linkProto.HandleSession(ctx, m.host, m.acceptChild)
	reportProto.Handle(ctx, m.host, m.serveReport)
	keyProto.Handle(ctx, m.host, m.serveKey)
	capacityProto.Handle(ctx, m.host, m.serveCapacity)
	m.work.Go(m.loop)
	m.work.Go(m.watchUplink)
}

func (m *media) close() {
	placeProto.Remove(m.host)
	linkProto.Remove(m.host)
	reportProto.Remove(m.host)
	keyProto.Remove(m.host)
	capacityProto.Remove(m.host)
	m.work.Close()
	m.mu.Lock()
	sessions := m.sessions
	m.sessions = map[rooms.RoomID]*mediaSession{}
	m.mu.Unlock()
	for _, ms := range sessions {
		ms.stop()
	}
}

// changed is called whenever the service's view of a room changes (a new
// state, a room adopted or dropped). It starts, wakes or stops the room's
// media session; it never blocks, because the service may hold its lock.
func (m *media) changed(id rooms.RoomID) {
	m.mu.Lock()
	m.pending[id] = struct{}{}
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// loop applies changes in the order rooms were touched, one at a time.
func (m *media) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		}
		m.mu.Lock()
		ids := make([]rooms.RoomID, 0, len(m.pending))
		for id := range m.pending {
			ids = append(ids, id)
		}
		clear(m.pending)
		m.mu.Unlock()
		for _, id := range ids {
			m.sync(id)
		}
	}
}

func (m *media) sync(id rooms.RoomID) {
	st, ok := m.states.State(id)
	active := ok && st.Status == rooms.StatusLive && (st.Host == m.self() || st.InRoom(m.self()))
	m.mu.Lock()
	ms, running := m.sessions[id]
	switch {
	case active && !running:
		if m.work.Context().Err() != nil {
			m.mu.Unlock()
			return
		}
		ms = m.newSession(id)
		m.sessions[id] = ms
	case !active && running:
		delete(m.sessions, id)
	}
	m.mu.Unlock()
	if !active {
		if running {
			ms.stop()
		}
		return
	}
	ms.notify()
}

func (m *media) session(id rooms.RoomID) (*mediaSession, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms, ok := m.sessions[id]
	return ms, ok
}

// MediaStats is what a node can tell about its place in a room's tree.
type MediaStats struct {
	Parent  peer.ID
	Backups []peer.ID // where it would fail over to, best first
	// Standby is the backup this node holds a connected standby link to
	// (standby.go), if any; Standbys are the children holding one here.
	Standby   peer.ID
	Standbys  []peer.ID
	Children  []peer.ID
	Subtree   int
	Forwarder rtc.ForwarderStats
	Guard     GuardStats // what the signature check played and refused here
}

// Media reports this node's place in room's relay tree.
func (s *Service) Media(id rooms.RoomID) (MediaStats, bool) {
	if s.media == nil {
		return MediaStats{}, false
	}
	ms, ok := s.media.session(id)
	if !ok {
		return MediaStats{}, false
	}
	out := MediaStats{Subtree: ms.subtree(), Forwarder: ms.fwd.Stats(), Guard: ms.guard.statsSnapshot()}
	out.Guard.DecryptFailed = ms.keys.failures.Load()
	ms.mu.Lock()
	out.Parent = ms.parent
	out.Backups = slices.Clone(ms.backups)
	for c := range ms.children {
		out.Children = append(out.Children, c)
	}
	for c := range ms.standbys {
		out.Standbys = append(out.Standbys, c)
	}
	k := ms.standby
	ms.mu.Unlock()
	out.Standby = k.readyPeer()
	return out, true
}

// Listen attaches fn to everything this node receives or sends in room:
// each audible speaker's RTP packets, once its speaker's signature covers
// them (the payload is the speaker's Opus, without the signature trailer). It is how local listeners (WHEP, the
// recorder, tests) hear the room. remove detaches it.
func (s *Service) Listen(id rooms.RoomID, fn func(speaker string, pkt *rtp.Packet)) (remove func(), err error) {
	ms, err := s.liveMedia(id)
	if err != nil {
		return nil, err
	}
	return ms.guard.addSink(fn), nil
}

// Voice is this node's own voice in one room, bound once to the room's
// media session: a local speaker (a WHIP session) writes every packet to
// it without looking the room up again.
type Voice struct {
	ms *mediaSession
}

// Voice binds this node's voice in room. The caller must be on stage and
// unmuted for anyone to hear it: the host's forwarder drops everyone else.
func (s *Service) Voice(id rooms.RoomID) (*Voice, error) {
	ms, err := s.liveMedia(id)
	if err != nil {
		return nil, err
	}
	return &Voice{ms: ms}, nil
}

// Write sends one RTP packet of this node's voice into the room. It fails
// with ErrNoMedia once the room's media has stopped here.
func (v *Voice) Write(pkt *rtp.Packet) error {
	if v.ms.ctx.Err() != nil {
		return fmt.Errorf("%w: the room's audio stopped on this node", ErrNoMedia)
	}
	pkt, err := v.ms.sign(v.ms.voice.rewrite(pkt, time.Now()))
	if err != nil {
		return err
	}
	select {
	case v.ms.spoke <- struct{}{}: // tailLoop: the voice is not quiet
	default:
	}
	return v.ms.send(pkt)
}

// send puts a signed packet of this node's voice into the room: straight
// into the forwarder on the host, up to the host elsewhere.
func (ms *mediaSession) send(pkt *rtp.Packet) error {
	if ms.hosting.Load() {
		ms.fwd.Write(ms.m.self().String(), pkt)
		return nil
	}
	return ms.uplink.Write(pkt)
}

// Done is closed when the room's media stops on this node (the room ended
// or this node left it): a local speaker should stop then.
func (v *Voice) Done() <-chan struct{} { return v.ms.ctx.Done() }

// ErrNoMedia: the room has no audio on this node (not joined, not live).
var ErrNoMedia = errors.New("no audio for this room on this node")

func (s *Service) liveMedia(id rooms.RoomID) (*mediaSession, error) {
	if s.media == nil {
		return nil, fmt.Errorf("%w: media is off", ErrNoMedia)
	}
	ms, ok := s.media.session(id)
	if !ok {
		// Just joined: the media loop may not have got to it yet.
		s.media.sync(id)
		if ms, ok = s.media.session(id); !ok {
			return nil, fmt.Errorf("%w: join %s first", ErrNoMedia, id)
		}
	}
	return ms, nil
}
