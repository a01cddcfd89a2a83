package roomnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/wire"
	"github.com/clubnode/clubnode/rooms"
)

// The media plane's two protocols. PlaceProtocol asks a room's host for a
// parent in the relay tree and gets a signed assignment back; LinkProtocol
// opens the link to that parent: the assignment first, then the WebRTC
// signaling of package rtc on the same stream, so the DTLS fingerprints in
// the SDP travel over a channel authenticated by both peers' libp2p keys.
const (
	PlaceProtocol protocol.ID = "/clubnode/room-place/1.0.0"
	LinkProtocol  protocol.ID = "/clubnode/room-media/1.0.0"
)

const (
	maxPlaceFrame = 8 << 10
	maxLinkFrame  = rooms.MaxAssignmentSize + 512
	maxReportKids = rooms.MaxRelayCapacity
	placeTimeout  = 5 * time.Second
	retryBackoff  = 150 * time.Millisecond
)

type placeRequest struct {
	V        int      `cbor:"0,keyasint"`
	Room     string   `cbor:"1,keyasint"`
	Capacity int      `cbor:"2,keyasint"`
	Avoid    []byte   `cbor:"3,keyasint,omitempty"`
	Children [][]byte `cbor:"4,keyasint,omitempty"`
}

type placeReply struct {
	V          int    `cbor:"0,keyasint"`
	Assignment []byte `cbor:"1,keyasint,omitempty"`
	Error      string `cbor:"2,keyasint,omitempty"`
}

type linkHello struct {
	V          int    `cbor:"0,keyasint"`
	Assignment []byte `cbor:"1,keyasint"`
}

type linkReply struct {
	V     int    `cbor:"0,keyasint"`
	Error string `cbor:"1,keyasint,omitempty"`
}

// media runs this node's part of every room's relay tree.
type media struct {
	s        *Service
	api      *rtc.API
	capacity int
	timeout  time.Duration
	log      *slog.Logger

	mu       sync.Mutex
	sessions map[rooms.RoomID]*mediaSession
	pending  map[rooms.RoomID]struct{}
	kick     chan struct{}
	wg       sync.WaitGroup
}

// mediaSession is one room's media on this node: the forwarder every link
// and local listener hangs on, the uplink for this node's own voice, the
// link to its parent and the links to its children. On the host it also
// holds the relay tree.
type mediaSession struct {
	m      *media
	room   rooms.RoomID
	fwd    *rtc.Forwarder
	uplink *rtc.Uplink
	voice  voice         // this node's own stream, kept continuous across sources
	wake   chan struct{} // follow's: the state changed
	wakeUp chan struct{} // upstream's: the state changed
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	host       peer.ID // host the tree below belongs to
	tree       *rooms.Tree
	parent     peer.ID
	linkCancel context.CancelFunc
	children   map[peer.ID]*childLink
}

type childLink struct {
	cancel  context.CancelFunc
	subtree int
}

func newMedia(s *Service, api *rtc.API, capacity int, timeout time.Duration) *media {
	if capacity < 0 {
		capacity = 0
	}
	return &media{s: s, api: api, capacity: min(capacity, rooms.MaxRelayCapacity), timeout: timeout,
		log: s.log.With("plane", "media"), sessions: map[rooms.RoomID]*mediaSession{},
		pending: map[rooms.RoomID]struct{}{}, kick: make(chan struct{}, 1)}
}

func (m *media) start() {
	h := m.s.cfg.P2P.Host()
	h.SetStreamHandler(PlaceProtocol, m.handlePlace)
	h.SetStreamHandler(LinkProtocol, m.handleLink)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.loop(m.s.ctx)
	}()
}

func (m *media) close() {
	h := m.s.cfg.P2P.Host()
	h.RemoveStreamHandler(PlaceProtocol)
	h.RemoveStreamHandler(LinkProtocol)
	m.wg.Wait() // the service's context is cancelled already
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
	st, ok := m.s.State(id)
	active := ok && st.Status == rooms.StatusLive && (st.Host == m.s.self() || st.InRoom(m.s.self()))
	m.mu.Lock()
	ms, running := m.sessions[id]
	switch {
	case active && !running:
		if m.s.ctx.Err() != nil {
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

func (m *media) newSession(id rooms.RoomID) *mediaSession {
	ctx, cancel := context.WithCancel(m.s.ctx)
	ms := &mediaSession{m: m, room: id, fwd: rtc.NewForwarder(m.log.With("room", id)), uplink: rtc.NewUplink(),
		wake: make(chan struct{}, 1), wakeUp: make(chan struct{}, 1), ctx: ctx, cancel: cancel, children: map[peer.ID]*childLink{}}
	ms.goFn(ms.follow)
	ms.goFn(ms.upstream)
	return ms
}

func (ms *mediaSession) goFn(fn func()) {
	ms.wg.Add(1)
	go func() {
		defer ms.wg.Done()
		fn()
	}()
}

func (ms *mediaSession) stop() {
	ms.cancel()
	ms.wg.Wait()
	ms.fwd.Close()
}

func (ms *mediaSession) self() peer.ID { return ms.m.s.self() }

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
func (ms *mediaSession) follow() {
	for {
		select {
		case <-ms.ctx.Done():
			return
		case <-ms.wake:
		}
		st, ok := ms.m.s.State(ms.room)
		if !ok {
			continue
		}
		ms.fwd.SetSpeakers(audible(st.State))
		ms.mu.Lock()
		if st.Host == ms.self() && ms.host != ms.self() {
			// This node became the host: it starts a tree of its own and
			// learns the rest as nodes come asking or report in.
			ms.tree = rooms.NewTree(ms.self(), ms.m.capacity)
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
		if ms.tree != nil {
			for _, p := range ms.tree.Nodes() {
				if !st.InRoom(p) {
					ms.tree.Remove(p)
				}
			}
		}
		// On stage means under the host; a listener just invited up, or
		// a node whose parent was the old host, moves.
		replace := ms.linkCancel != nil && ms.parent != "" && st.Host != ms.self() &&
			st.OnStage(ms.self()) && ms.parent != st.Host
		if st.Host == ms.self() && ms.linkCancel != nil {
			replace = true
		}
		if replace {
			ms.linkCancel()
		}
		ms.mu.Unlock()
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

// upstream keeps this node linked to a parent while it is not the host:
// ask the host where to hang, open the link, and when it fails ask again,
// avoiding the parent that was lost.
func (ms *mediaSession) upstream() {
	var avoid peer.ID
	for ms.ctx.Err() == nil {
		st, ok := ms.m.s.State(ms.room)
		if !ok || st.Host == ms.self() {
			if !ms.waitWake(0) {
				return
			}
			continue
		}
		a, err := ms.askParent(st, avoid)
		if err != nil {
			ms.m.log.Debug("no parent yet", "room", ms.room, "err", err)
			if !ms.waitWake(retryBackoff) {
				return
			}
			continue
		}
		linkCtx, cancel := context.WithCancel(ms.ctx)
		ms.mu.Lock()
		ms.parent, ms.linkCancel = a.Parent, cancel
		ms.mu.Unlock()
		err = ms.linkParent(linkCtx, a)
		replaced := linkCtx.Err() != nil && ms.ctx.Err() == nil
		cancel()
		ms.mu.Lock()
		ms.parent, ms.linkCancel = "", nil
		ms.mu.Unlock()
		if ms.ctx.Err() != nil {
			return
		}
		avoid = a.Parent
		if replaced {
			avoid = ""
		}
		ms.m.log.Info("lost parent", "room", ms.room, "parent", a.Parent, "moved", replaced, "err", err)
	}
}

// waitWake waits for a state change, or d if d > 0; false when stopping.
func (ms *mediaSession) waitWake(d time.Duration) bool {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ms.ctx.Done():
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

// askParent asks the host where this node should hang.
func (ms *mediaSession) askParent(st *rooms.SignedState, avoid peer.ID) (*rooms.SignedAssignment, error) {
	ctx, cancel := context.WithTimeout(ms.ctx, placeTimeout)
	defer cancel()
	str, err := ms.m.s.cfg.P2P.Host().NewStream(ctx, st.Host, PlaceProtocol)
	if err != nil {
		return nil, fmt.Errorf("ask host %s for a parent: %w", st.Host, err)
	}
	defer str.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = str.SetDeadline(dl)
	}
	req := placeRequest{V: 1, Room: string(ms.room), Capacity: ms.m.capacity, Children: ms.childIDs()}
	if avoid != "" {
		req.Avoid = []byte(avoid)
	}
	if err := wire.WriteFrame(str, req); err != nil {
		str.Reset()
		return nil, fmt.Errorf("ask host for a parent: %w", err)
	}
	var reply placeReply
	if err := wire.NewReader(str, maxPlaceFrame).ReadFrame(&reply); err != nil {
		str.Reset()
		return nil, fmt.Errorf("ask host for a parent: %w", err)
	}
	if reply.Error != "" {
		return nil, fmt.Errorf("%w: %s", ErrRefused, reply.Error)
	}
	a, err := rooms.ParseAssignment(reply.Assignment)
	if err != nil {
		return nil, err
	}
	if err := a.Check(ms.room, st.Host, ms.self(), a.Parent, ms.m.s.cfg.Now()); err != nil {
		return nil, err
	}
	return a, nil
}

// linkParent opens the link to the assigned parent and runs it until it
// fails or ctx ends.
func (ms *mediaSession) linkParent(ctx context.Context, a *rooms.SignedAssignment) error {
	hctx, cancel := context.WithTimeout(ctx, placeTimeout)
	str, err := ms.m.s.cfg.P2P.Host().NewStream(hctx, a.Parent, LinkProtocol)
	cancel()
	if err != nil {
		return fmt.Errorf("open link to %s: %w", a.Parent, err)
	}
	defer str.Close()
	_ = str.SetDeadline(time.Now().Add(placeTimeout))
	if err := wire.WriteFrame(str, linkHello{V: 1, Assignment: a.Bytes}); err != nil {
		str.Reset()
		return fmt.Errorf("link to %s: %w", a.Parent, err)
	}
	var reply linkReply
	if err := wire.NewReader(str, maxLinkFrame).ReadFrame(&reply); err != nil {
		str.Reset()
		return fmt.Errorf("link to %s: %w", a.Parent, err)
	}
	if reply.Error != "" {
		return fmt.Errorf("link to %s: %w: %s", a.Parent, ErrRefused, reply.Error)
	}
	_ = str.SetDeadline(time.Time{})
	go func() {
		// A stream blocked in a read does not see ctx; resetting it does.
		<-ctx.Done()
		str.Reset()
	}()
	err = rtc.DialParent(ctx, ms.m.api, str, ms.fwd, rtc.ParentOptions{Timeout: ms.m.timeout, Uplink: ms.uplink,
		Subtree: ms.subtree})
	return err
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

// handlePlace is the host's side of PlaceProtocol.
func (m *media) handlePlace(str network.Stream) {
	defer str.Close()
	_ = str.SetDeadline(time.Now().Add(placeTimeout))
	var req placeRequest
	if err := wire.NewReader(str, maxPlaceFrame).ReadFrame(&req); err != nil {
		str.Reset()
		return
	}
	reply := placeReply{V: 1}
	a, err := m.place(str.Conn().RemotePeer(), req)
	if err != nil {
		reply.Error = err.Error()
	} else {
		reply.Assignment = a.Bytes
	}
	_ = wire.WriteFrame(str, reply)
}

func (m *media) place(from peer.ID, req placeRequest) (*rooms.SignedAssignment, error) {
	id, err := rooms.ParseRoomID(req.Room)
	if err != nil {
		return nil, err
	}
	if len(req.Children) > maxReportKids {
		return nil, fmt.Errorf("%w: %d children reported", rooms.ErrTooLarge, len(req.Children))
	}
	st, ok := m.s.State(id)
	if !ok || st.Host != m.s.self() {
		return nil, fmt.Errorf("%w: %s is not hosted by this node", rooms.ErrUnknownRoom, id)
	}
	if st.Status != rooms.StatusLive {
		return nil, fmt.Errorf("%w: %s", rooms.ErrNotLive, id)
	}
	if !st.InRoom(from) {
		return nil, fmt.Errorf("%w: join the room before asking for its audio", rooms.ErrNotInRoom)
	}
	ms, ok := m.session(id)
	if !ok {
		return nil, fmt.Errorf("%w: no media for %s yet", rooms.ErrNotLive, id)
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.tree == nil || ms.host != m.s.self() {
		return nil, fmt.Errorf("%w: this node is taking the room over; ask again", rooms.ErrNotLive)
	}
	pr := rooms.PlaceRequest{Child: from, Capacity: req.Capacity, OnStage: st.OnStage(from)}
	if len(req.Avoid) > 0 {
		lost, err := peer.IDFromBytes(req.Avoid)
		if err != nil {
			return nil, fmt.Errorf("%w: avoid: %v", rooms.ErrMalformed, err)
		}
		pr.Avoid, pr.AvoidGone = lost, m.s.cfg.P2P.Host().Network().Connectedness(lost) != network.Connected
	}
	for _, b := range req.Children {
		if c, err := peer.IDFromBytes(b); err == nil && st.InRoom(c) {
			pr.Children = append(pr.Children, c)
		}
	}
	pl, err := rooms.Placer{Tree: ms.tree}.Place(pr) // the decision, in package rooms
	if err != nil {
		return nil, err
	}
	return rooms.Assign(m.s.cfg.Key, id, from, pl.Parent, m.s.cfg.Now())
}

// handleLink is a parent's side of LinkProtocol: check the assignment,
// then serve the child until the link ends.
func (m *media) handleLink(str network.Stream) {
	defer str.Close()
	_ = str.SetDeadline(time.Now().Add(placeTimeout))
	var hello linkHello
	if err := wire.NewReader(str, maxLinkFrame).ReadFrame(&hello); err != nil {
		str.Reset()
		return
	}
	child := str.Conn().RemotePeer()
	ms, err := m.admitChild(child, hello)
	if err != nil {
		m.log.Debug("refused child", "peer", child, "err", err)
		_ = wire.WriteFrame(str, linkReply{V: 1, Error: err.Error()})
		return
	}
	if err := wire.WriteFrame(str, linkReply{V: 1}); err != nil {
		str.Reset()
		return
	}
	_ = str.SetDeadline(time.Time{})
	ctx, cancel := context.WithCancel(ms.ctx)
	link := &childLink{cancel: cancel}
	ms.mu.Lock()
	if old, ok := ms.children[child]; ok {
		old.cancel()
	}
	ms.children[child] = link
	ms.mu.Unlock()
	defer func() {
		cancel()
		ms.mu.Lock()
		if ms.children[child] == link {
			delete(ms.children, child)
		}
		ms.mu.Unlock()
	}()
	go func() {
		// Ends when ServeChild returns (deferred cancel) at the latest.
		<-ctx.Done()
		str.Reset()
	}()
	opts := rtc.ChildOptions{Timeout: m.timeout, OnSubtree: func(n int) {
		ms.mu.Lock()
		link.subtree = n
		ms.mu.Unlock()
	}}
	if st, ok := m.s.State(ms.room); ok && st.Host == m.s.self() {
		// Speakers hang under the host; what they send enters the room
		// here, and the forwarder drops anyone not audible.
		opts.Uplink = func(pkt *rtp.Packet) { ms.fwd.Write(child.String(), pkt) }
	}
	err = rtc.ServeChild(ctx, m.api, str, ms.fwd, opts)
	if err != nil && !errors.Is(err, context.Canceled) {
		m.log.Debug("child link ended", "room", ms.room, "child", child, "err", err)
	}
}

func (m *media) admitChild(child peer.ID, hello linkHello) (*mediaSession, error) {
	a, err := rooms.ParseAssignment(hello.Assignment)
	if err != nil {
		return nil, err
	}
	st, ok := m.s.State(a.Room)
	if !ok {
		return nil, fmt.Errorf("%w: this node is not in %s", rooms.ErrUnknownRoom, a.Room)
	}
	if err := a.Check(st.Room, st.Host, child, m.s.self(), m.s.cfg.Now()); err != nil {
		return nil, err
	}
	if st.IsBanned(child) {
		return nil, fmt.Errorf("%w", rooms.ErrBanned)
	}
	ms, ok := m.session(a.Room)
	if !ok {
		return nil, fmt.Errorf("%w: no media for %s here", rooms.ErrNotLive, a.Room)
	}
	return ms, nil
}

// MediaStats is what a node can tell about its place in a room's tree.
type MediaStats struct {
	Parent    peer.ID
	Children  []peer.ID
	Subtree   int
	Forwarder rtc.ForwarderStats
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
	out := MediaStats{Subtree: ms.subtree(), Forwarder: ms.fwd.Stats()}
	ms.mu.Lock()
	out.Parent = ms.parent
	for c := range ms.children {
		out.Children = append(out.Children, c)
	}
	ms.mu.Unlock()
	return out, true
}

// Listen attaches fn to everything this node receives or sends in room:
// each audible speaker's RTP packets. It is how local listeners (WHEP, the
// recorder, tests) hear the room. remove detaches it.
func (s *Service) Listen(id rooms.RoomID, fn func(speaker string, pkt *rtp.Packet)) (remove func(), err error) {
	ms, err := s.liveMedia(id)
	if err != nil {
		return nil, err
	}
	return ms.fwd.AddSink(fn), nil
}

// Speak sends one RTP packet of this node's own voice into room. The
// caller must be on stage and unmuted for anyone to hear it: the host's
// forwarder drops everyone else.
func (s *Service) Speak(id rooms.RoomID, pkt *rtp.Packet) error {
	ms, err := s.liveMedia(id)
	if err != nil {
		return err
	}
	pkt = ms.voice.rewrite(pkt, time.Now())
	st, ok := s.State(id)
	if ok && st.Host == s.self() {
		ms.fwd.Write(s.self().String(), pkt)
		return nil
	}
	return ms.uplink.Write(pkt)
}

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
