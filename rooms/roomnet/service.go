// Package roomnet carries rooms over libp2p: hallway announcements on a
// network-wide gossipsub topic, each room's signed state on a topic of its
// own, requests to the host on a stream, and the takeover by a moderator
// when the host goes silent. The rules themselves live in package rooms.
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

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/p2p"
	"github.com/clubnode/clubnode/rooms"
)

// Store is what the service needs its owner to persist and answer.
type Store interface {
	// SaveState keeps the latest state of a room this node hosts, so a
	// restarted host can resume or end it.
	SaveState(s *rooms.SignedState) error
	// Follows reports whether this node follows p (social rooms).
	Follows(p peer.ID) bool
	// Blocks reports whether this node blocked p.
	Blocks(p peer.ID) bool
	// FollowList lists whom this node follows, for the follow tags of the
	// social rooms it hosts (at most rooms.MaxFollowTags are used).
	FollowList() []peer.ID
	// BlockList lists whom this node blocked, for the hosts of the rooms
	// it moderates (at most MaxBlockList are sent).
	BlockList() []peer.ID
	// SaveTicket keeps a room ticket issued to this node; Ticket finds it
	// (nil if none), for the hallway and for joining.
	SaveTicket(t *rooms.SignedTicket) error
	Ticket(room rooms.RoomID) *rooms.SignedTicket
	// SavePass keeps a supporter pass issued to this node; Pass finds the
	// live one from issuer (nil if none). PassRevoked says whether this
	// node revoked a pass it issued.
	SavePass(p *rooms.SignedPass) error
	Pass(issuer peer.ID) *rooms.SignedPass
	PassRevoked(p *rooms.SignedPass) bool
	// SaveJoined remembers a room this node takes part in and does not
	// host, with the state it holds, so that a restarted node goes back to
	// it (Rejoin); ForgetJoined drops it once the node is out of the room.
	SaveJoined(s *rooms.SignedState) error
	ForgetJoined(id rooms.RoomID) error
}

// Config configures a Service.
type Config struct {
	P2P    *p2p.Node
	Key    crypto.PrivKey
	Store  Store
	Logger *slog.Logger
	// AnnounceInterval is how often a host re-publishes its rooms; the
	// hallway forgets a room after three intervals of silence.
	AnnounceInterval time.Duration
	// HostTimeout is how long a room's host may stay silent before its
	// first successor takes the room over (each later successor waits one
	// more HostTimeout). Moderators do not judge the host by the hallway,
	// whose announcements are rate-limited and gossiped: each pings the
	// host directly, HostTimeout/8 apart, and the host is silent when no
	// answer, state or announcement came for HostTimeout. Default 2 s (or
	// two announce intervals, if that is shorter).
	HostTimeout time.Duration
	// PresenceTimeout is how long someone on the stage of a room this node
	// hosts may be out of reach before the host prunes them from it (an
	// old host after a takeover, a speaker whose node died). Default 30 s.
	PresenceTimeout time.Duration
	// ResumeWindow is how recent the stored state of a live room this node
	// hosted must be for a restart to resume it rather than end it, when
	// nobody took it over meanwhile. Default 10 minutes.
	ResumeWindow time.Duration
	// ScheduleGrace is how late a scheduled room may still go live: a host
	// whose node was off at the start time and comes back within it opens
	// the room; later, it ends the room instead (nobody is waiting any
	// more). Default one hour.
	ScheduleGrace time.Duration
	Now           func() time.Time

	// Media carries the rooms' audio; nil leaves this node without any
	// (tests of the control plane alone).
	Media *rtc.API
	// RelayCapacity is how many children this node carries in a room's
	// relay tree; 0 means leaf only.
	RelayCapacity int
	// StandbyLinks makes this node, as a listener, keep a standby link to
	// its first backup (standby.go). Off by default until the relay tree
	// test holds with it on a loaded machine; a node serves other
	// children's standbys either way.
	StandbyLinks bool
	// Traits, if set, is what this node tells a host of itself when it
	// asks for a place (how others can reach it, whether it is an
	// always-on node), and what it places under itself as a host.
	Traits func() rooms.Traits
	// TURNServers, if set, are the always-on nodes this node would ask
	// for a link's TURN credentials now (at most 4 are named): a child
	// names them in its link hello and asks only those, and its parent
	// asks them too (linkHello.TURN).
	TURNServers func() []peer.ID
	// MediaTimeout is how long a link may be silent before its parent is
	// given up; 0 means rtc's default.
	MediaTimeout time.Duration
	// MediaStall is how long a parent's audio may stop before this node
	// probes it, and a parent that does not answer within 5/3 of it is
	// lost (see rtc.ParentOptions.Stall): default 60 ms, negative turns
	// the watch off and leaves heartbeats and ICE to notice.
	MediaStall time.Duration

	// OnChange, if set, is told the ID of every room whose state or
	// hallway entry changed here (the event stream wakes on it). It must
	// not block: it may be called with the service's lock held.
	OnChange func(rooms.RoomID)
}

// Service runs the rooms of one node in one network.
//
// Lock order: signMu, then pendingMu or saveMu, then mu. mu is innermost and is never
// held while calling out of the service, except into OnChange and the
// media plane's changed, which only take their own locks; the media
// plane's locks are never held while taking mu.
type Service struct {
	cfg     Config
	log     *slog.Logger
	network identity.NetworkID
	dir     *rooms.Directory
	late    *lateMeters // how late this node's own loops wake
	replay  *rooms.ReplayGuard
	follow  *rooms.FollowKeys
	hallway *pubsub.Topic
	media   *media // nil without Config.Media
	// roomsChanged wakes liveness when a room's state changed (capacity 1).
	roomsChanged chan struct{}
	// livenessRounds counts liveness's rounds (tests see it sleep).
	livenessRounds atomic.Int64

	work *group.Group    // every goroutine of the service
	ctx  context.Context // work's: ends when the service closes

	// signMu makes the host's changes one at a time: each next state is
	// built on the one before, or two requests arriving together would
	// both build on the same version and one of them would be lost.
	signMu sync.Mutex
	// pending are the requests waiting for signMu, to be signed together
	// by whichever of them takes it first (commit.go).
	pendingMu sync.Mutex
	pending   []*pendingRequest
	// saveMu orders persist's reads and writes, so the last state saved
	// is never older than one saved before it.
	saveMu sync.Mutex

	// mu guards the maps below and every room's fields.
	mu     sync.Mutex
	rooms  map[rooms.RoomID]*room
	probes map[peer.ID]*hostProbe // as a moderator: the hosts it watches
	// remembered are the hosts of rooms this node was in before a restart
	// and is going back to (Rejoin): the room may not be in the hallway.
	remembered map[rooms.RoomID]peer.ID
	// removed are the rooms a moderator removed this node from (Removed).
	removed map[rooms.RoomID]bool

	blockLists blockListClock // numbers this node's block lists (blocks.go)
}

// room is what this node holds of a room it takes part in.
type room struct {
	state     *rooms.SignedState
	topic     *pubsub.Topic
	sub       *pubsub.Subscription
	cancel    context.CancelFunc
	lastHeard time.Time // last state, announcement or ping answer from the host
	seq       uint64    // last announcement sequence this node published
	// As the host: the block lists the room's moderators sent (blocks.go).
	modBlocks   map[peer.ID]map[peer.ID]bool
	modBlocksAt map[peer.ID]uint64 // the number of each list kept
	// As a moderator: the host that has this node's block list, and
	// whether a send is under way.
	blocksSentTo  peer.ID
	blocksSending bool
	// As a participant: a check that the host still answers is under way
	// (a moderator's liveness probe, or forgetIfAbandoned's).
	probing bool
	// As the host: since when each one on stage has been out of reach,
	// and whether this node is handing the room to one that took it over.
	absentSince map[peer.ID]time.Time
	yielding    bool
	// As a participant: since when the host has announced a newer
	// version than this node holds (zero: not behind), and whether it is
	// asking the host for it (catchup.go).
	behindSince time.Time
	catchingUp  bool
}

// New starts the service for the network p2p is a member of.
func New(cfg Config) (*Service, error) {
	if cfg.P2P == nil || cfg.Key == nil || cfg.Store == nil {
		return nil, errors.New("roomnet: P2P, Key and Store are required")
	}
	chain := cfg.P2P.Chain()
	if chain == nil {
		return nil, p2p.ErrNotMember
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AnnounceInterval <= 0 {
		cfg.AnnounceInterval = 5 * time.Second
	}
	if cfg.HostTimeout <= 0 {
		// Shorter than the hallway's memory of a room (three intervals),
		// so that the takeover's announcement keeps the room listed.
		cfg.HostTimeout = min(2*time.Second, 2*cfg.AnnounceInterval)
	}
	if cfg.PresenceTimeout <= 0 {
		cfg.PresenceTimeout = 30 * time.Second
	}
	if cfg.ResumeWindow <= 0 {
		cfg.ResumeWindow = 10 * time.Minute
	}
	if cfg.ScheduleGrace <= 0 {
		cfg.ScheduleGrace = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	follow, err := rooms.NewFollowKeys(cfg.Key)
	if err != nil {
		return nil, err
	}
	// Each room's announcements are let in at six per TTL (about twice an
	// interval, for the periodic one and the changes between), at least
	// one a second, so a host re-announcing on its interval is never cut.
	ttl := hallwayTTL(cfg)
	late := &lateMeters{}
	dir, err := rooms.NewDirectory(rooms.DirectoryConfig{Network: chain.Network(), TTL: ttl, Now: cfg.Now,
		Rate: rate.Limit(max(1, 6/ttl.Seconds())), Burst: 8, Grace: func() time.Duration { return 2 * late.recent() }})
	if err != nil {
		return nil, err
	}
	replay, err := rooms.NewReplayGuard(rooms.ReplayConfig{})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("component", "rooms"), network: chain.Network(),
		dir: dir, late: late, replay: replay, follow: follow, rooms: map[rooms.RoomID]*room{}, probes: map[peer.ID]*hostProbe{},
		remembered: map[rooms.RoomID]peer.ID{}, removed: map[rooms.RoomID]bool{}, roomsChanged: make(chan struct{}, 1)}
	s.work = group.New(context.Background())
	s.ctx = s.work.Context()
	if err := s.startHallway(); err != nil {
		s.work.Close()
		return nil, err
	}
	requestProto.Handle(s.ctx, s.host(), s.serveRequest)
	ticketProto.Handle(s.ctx, s.host(), s.receiveTicket)
	stateProto.Handle(s.ctx, s.host(), s.receiveState)
	catchUpProto.Handle(s.ctx, s.host(), s.serveCatchUp)
	passProto.Handle(s.ctx, s.host(), s.receivePass)
	blocksProto.Handle(s.ctx, s.host(), s.receiveBlocks)
	if cfg.Media != nil {
		view := mediaView{host: s.host(), key: cfg.Key, now: cfg.Now, states: s, log: s.log.With("plane", "media")}
		s.media = newMedia(s.ctx, view, cfg.Media, cfg.RelayCapacity, cfg.MediaTimeout, cfg.MediaStall)
		s.media.traits, s.media.standbyLinks = cfg.Traits, cfg.StandbyLinks
		s.media.turnServers = cfg.TURNServers
		s.media.start()
	}
	s.goFn(s.tick)
	s.goFn(s.liveness)
	return s, nil
}

// Close stops the service's goroutines and leaves its topics.
func (s *Service) Close() {
	requestProto.Remove(s.host())
	ticketProto.Remove(s.host())
	blocksProto.Remove(s.host())
	s.work.Close()
	if s.media != nil {
		s.media.close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rooms {
		r.cancel()
		_ = r.topic.Close()
	}
	_ = s.hallway.Close()
}

// goFn runs fn as one of the service's goroutines; once the service is
// closing it runs nothing.
func (s *Service) goFn(fn func(ctx context.Context)) { s.work.Go(fn) }

func (s *Service) self() peer.ID { return s.cfg.P2P.ID() }

// hallwayTTL is how long a room stays listed after its last announcement:
// three intervals, and a HostTimeout more, so that when a host dies its
// successor's takeover reaches hallways before they forget the room.
func hallwayTTL(cfg Config) time.Duration { return 3*cfg.AnnounceInterval + cfg.HostTimeout }

// host is the libp2p host the rooms protocols run on: the members-only
// one, so no stranger opens a rooms stream or is reached by one.
func (s *Service) host() host.Host { return s.cfg.P2P.MemberHost() }

// changed tells the media plane and the owner's hook that a room's state
// moved; it never blocks.
func (s *Service) changed(id rooms.RoomID) {
	select {
	case s.roomsChanged <- struct{}{}:
	default:
	}
	if s.media != nil {
		s.media.changed(id)
	}
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(id)
	}
}

// RoomIDs lists the rooms this node takes part in (or hosts) now.
func (s *Service) RoomIDs() []rooms.RoomID {
	ids := s.roomIDs()
	slices.Sort(ids)
	return ids
}

// State returns the latest state this node holds of room.
func (s *Service) State(id rooms.RoomID) (*rooms.SignedState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[id]
	if !ok {
		return nil, false
	}
	return r.state, true
}

// Hallway lists the rooms v may see.
func (s *Service) Hallway(v rooms.Viewer) []*rooms.SignedAnnouncement { return s.dir.List(v) }

// FollowKeys finds this node's follow tag in social rooms' announcements,
// for the Viewer its owner passes to Hallway.
func (s *Service) FollowKeys() *rooms.FollowKeys { return s.follow }

// Create starts (or schedules) a room hosted by this node.
func (s *Service) Create(ctx context.Context, title string, typ rooms.RoomType, start time.Time) (*rooms.SignedState, error) {
	st, err := rooms.NewState(rooms.RoomConfig{Network: s.network, Host: s.self(), Title: title, Type: typ,
		Start: start, Now: s.cfg.Now()})
	if err != nil {
		return nil, err
	}
	signed, err := rooms.SignState(s.cfg.Key, st)
	if err != nil {
		return nil, err
	}
	if err := s.adopt(signed); err != nil {
		return nil, err
	}
	if err := s.cfg.Store.SaveState(signed); err != nil {
		return nil, err
	}
	s.announce(ctx, signed.Room)
	s.log.Info("room created", "room", signed.Room, "title", title, "type", typ)
	return signed, nil
}

// adopt starts holding a room: join its state topic and remember the state.
func (s *Service) adopt(st *rooms.SignedState) error {
	s.mu.Lock()
	delete(s.removed, st.Room)
	if r, ok := s.rooms[st.Room]; ok {
		s.mu.Unlock()
		return s.accept(r, st)
	}
	s.mu.Unlock()
	name := stateTopic(s.network, st.Room)
	if err := s.cfg.P2P.PubSub().RegisterTopicValidator(name, s.validateState(st.Room)); err != nil {
		return fmt.Errorf("room %s: %w", st.Room, err)
	}
	topic, err := s.cfg.P2P.PubSub().Join(name)
	if err != nil {
		return fmt.Errorf("room %s: join state topic: %w", st.Room, err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		_ = topic.Close()
		return fmt.Errorf("room %s: subscribe: %w", st.Room, err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	r := &room{state: st, topic: topic, sub: sub, cancel: cancel, lastHeard: s.cfg.Now()}
	s.mu.Lock()
	s.rooms[st.Room] = r
	delete(s.remembered, st.Room)
	s.mu.Unlock()
	s.rememberJoined(st)
	s.changed(st.Room)
	s.reachSuccessors(&st.State)
	s.goFn(func(context.Context) { s.readStates(ctx, st.Room, sub) })
	return nil
}

// accept moves r to next if the room's rules allow it.
func (s *Service) accept(r *room, next *rooms.SignedState) error {
	s.mu.Lock()
	if next.Version == r.state.Version && next.Host == r.state.Host {
		s.mu.Unlock()
		return nil
	}
	if err := rooms.Accept(r.state, next); err != nil {
		s.mu.Unlock()
		return err
	}
	r.state = next
	r.lastHeard = s.cfg.Now()
	r.behindSince = time.Time{}
	s.changed(next.Room)
	s.mu.Unlock()
	// Outside mu: asking the libp2p network who is connected takes the
	// p2p node's own lock.
	s.reachSuccessors(&next.State)
	return nil
}

// reachSuccessors connects to the room's host and moderators when this
// node is not connected to them yet. Whoever takes a room over is one of
// them, and a participant that reached only the old host (a newcomer whose
// one connection is its inviter) would otherwise never hear the takeover,
// and abandon a room that lives on. It runs while the host is alive, which
// can still tell where they are (the DHT).
func (s *Service) reachSuccessors(st *rooms.State) {
	for _, p := range append([]peerID{st.Host}, st.Moderators...) {
		if p == s.self() || s.host().Network().Connectedness(p) == network.Connected {
			continue
		}
		s.goFn(func(ctx context.Context) { s.cfg.P2P.ReachMember(ctx, p) })
	}
}

// drop stops holding a room.
func (s *Service) drop(id rooms.RoomID) {
	s.mu.Lock()
	r, ok := s.rooms[id]
	delete(s.rooms, id)
	s.mu.Unlock()
	if ok {
		s.changed(id)
		if err := s.cfg.Store.ForgetJoined(id); err != nil {
			s.log.Warn("could not forget a room left", "room", id, "err", err)
		}
		r.cancel()
		// The subscription goes first, synchronously: a topic with a live
		// subscription refuses to close, and a later join of the same
		// room would then find the topic still there.
		r.sub.Cancel()
		_ = r.topic.Close()
		_ = s.cfg.P2P.PubSub().UnregisterTopicValidator(stateTopic(s.network, id))
	}
}

// Restore takes back a room this node hosted before a restart.
//
// A scheduled room has nobody in it yet: it is announced again, and goes
// live at once if its start has passed, unless it passed more than
// ScheduleGrace ago, when the room is ended instead.
//
// A live room may have lived on without this node: a moderator takes over
// within seconds. So the node first looks at the hallway for one announce
// interval; if another host announces the room, it joins the room there,
// as what the new state says it is (a moderator, after a takeover). If
// nobody does, it resumes the room as its host, whose listeners are still
// asking it for a place, unless the state is older than ResumeWindow: then
// the room is ended cleanly.
func (s *Service) Restore(ctx context.Context, st *rooms.SignedState) error {
	if st.Host != s.self() || st.Status == rooms.StatusEnded {
		return nil
	}
	if st.Status == rooms.StatusScheduled {
		if err := s.adopt(st); err != nil {
			return err
		}
		if s.cfg.Now().Sub(st.Start) <= s.cfg.ScheduleGrace {
			if !s.startDue(ctx, st.Room) {
				s.announce(ctx, st.Room)
			}
			return nil
		}
		_, err := s.Request(ctx, st.Room, rooms.KindEnd, "", nil)
		return err
	}
	s.goFn(func(ctx context.Context) { s.resume(ctx, st) })
	return nil
}

// resume is Restore for a room that was live: see there. The hallway is
// given two announce intervals from the moment this node first meets a
// member (or half a minute if it meets none) to show a new host.
func (s *Service) resume(ctx context.Context, st *rooms.SignedState) {
	for waited := time.Duration(0); len(s.cfg.P2P.VerifiedPeers()) == 0 && waited < 30*time.Second; waited += 100 * time.Millisecond {
		if !group.Sleep(ctx, 100*time.Millisecond) {
			return
		}
	}
	deadline := time.NewTimer(2 * s.cfg.AnnounceInterval)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if a, ok := s.dir.Get(st.Room); ok && a.Host != s.self() {
			if _, err := s.Request(ctx, st.Room, rooms.KindJoin, "", nil); err != nil {
				s.log.Warn("could not rejoin a room another node hosts now", "room", st.Room, "host", a.Host, "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
		case <-tick.C:
			continue
		}
		break
	}
	if err := s.adopt(st); err != nil {
		s.log.Warn("could not take back a hosted room", "room", st.Room, "err", err)
		return
	}
	if s.cfg.Now().Sub(st.Updated) > s.cfg.ResumeWindow {
		if _, err := s.Request(ctx, st.Room, rooms.KindEnd, "", nil); err != nil {
			s.log.Warn("could not end a room left live long ago", "room", st.Room, "err", err)
		}
		return
	}
	s.log.Info("resuming a hosted room after a restart", "room", st.Room)
	s.announce(ctx, st.Room)
}

// rememberJoined keeps a room this node is in (and does not host) for a
// restart.
func (s *Service) rememberJoined(st *rooms.SignedState) {
	if st.Host == s.self() {
		return
	}
	if err := s.cfg.Store.SaveJoined(st); err != nil {
		s.log.Warn("could not remember a room joined", "room", st.Room, "err", err)
	}
}

// Rejoin goes back to a room this node was in before a restart (the state
// it remembered): it asks the room's host, or whoever hosts it now if the
// hallway says so, to let it back in, trying again for a while if the host
// is not reachable yet. The host lists it still, so it gets the state and
// its place as before; a room that ended or moved on without it is let go.
func (s *Service) Rejoin(st *rooms.SignedState) {
	if st.Host == s.self() {
		return
	}
	s.mu.Lock()
	s.remembered[st.Room] = st.Host
	s.mu.Unlock()
	s.goFn(func(ctx context.Context) {
		defer func() {
			s.mu.Lock()
			delete(s.remembered, st.Room)
			s.mu.Unlock()
		}()
		pause := 250 * time.Millisecond
		for deadline := s.cfg.Now().Add(2 * time.Minute); ; {
			if _, held := s.State(st.Room); held {
				return
			}
			_, err := s.Request(ctx, st.Room, rooms.KindJoin, "", nil)
			if err == nil {
				s.log.Info("back in a room after a restart", "room", st.Room)
				return
			}
			if !errors.Is(err, rpc.ErrUnreachable) && !errors.Is(err, rpc.ErrNoReply) || s.cfg.Now().After(deadline) {
				s.log.Info("not back in a room after a restart", "room", st.Room, "err", err)
				if ferr := s.cfg.Store.ForgetJoined(st.Room); ferr != nil {
					s.log.Warn("could not forget a room", "room", st.Room, "err", ferr)
				}
				return
			}
			if !group.Sleep(ctx, pause) {
				return
			}
			pause = min(2*pause, 5*time.Second)
		}
	})
}
