package roomnet

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"github.com/clubnode/clubnode/internal/lateness"
	"github.com/clubnode/clubnode/rooms"
)

// tick re-announces hosted rooms, opens scheduled ones at their start and
// prunes those gone from their stage, expires the hallway, gives the hosts
// of rooms this node moderates its block list, and lets go of rooms whose
// host and every moderator have gone silent.
func (s *Service) tick(ctx context.Context) {
	period := s.cfg.AnnounceInterval / 2
	t := time.NewTicker(period)
	defer t.Stop()
	s.late.tick.Expect(time.Now().Add(period))
	var n int
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := time.Now()
			s.late.tick.Woke(now)
			s.late.tick.Expect(now.Add(period))
		}
		n++
		s.dir.Expire(s.cfg.Now())
		for _, id := range s.roomIDs() {
			st, ok := s.State(id)
			if !ok {
				continue
			}
			switch {
			case st.Host == s.self():
				if !s.startDue(ctx, id) && n%2 == 0 {
					s.announce(ctx, id)
				}
				s.pruneStage(ctx, id)
			case st.IsModerator(s.self()):
				s.shareBlocks(id)
			default:
				s.forgetIfAbandoned(id)
			}
		}
	}
}

// liveness runs the moderators' side of takeover: it pings the host of
// each room this node moderates (once per host, however many rooms it
// hosts) every HostTimeout/8, and takes a room over when its host has been
// silent for this node's turn. While this node moderates no live room
// hosted elsewhere it sleeps until a room's state changes: most members
// moderate nothing, and four wakes a second for nothing were a tenth of
// an idle member's (BENCHMARKS.md, "a cheaper node").
func (s *Service) liveness(ctx context.Context) {
	period := max(s.cfg.HostTimeout/8, 10*time.Millisecond)
	t := time.NewTimer(0)
	defer t.Stop()
	armed := true // t runs
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			armed = false
			s.late.live.Woke(time.Now())
		case <-s.roomsChanged:
			if armed {
				continue // the next tick looks anyway
			}
		}
		switch watching := s.checkHosts(ctx); {
		case watching && !armed:
			t.Reset(period)
			s.late.live.Expect(time.Now().Add(period))
			armed = true
		case !watching && armed:
			t.Stop()
			armed = false
		}
	}
}

// checkHosts is one round of liveness: it pings the hosts of the live
// rooms this node moderates and takes over those whose host has been
// silent too long. It reports whether anything is left to watch (a room,
// or a ping still out).
func (s *Service) checkHosts(ctx context.Context) (watching bool) {
	s.livenessRounds.Add(1)
	hosts := map[peer.ID]bool{}
	var watched []rooms.RoomID
	for _, id := range s.roomIDs() {
		st, ok := s.State(id)
		if !ok || st.Host == s.self() || !st.IsModerator(s.self()) || st.Status != rooms.StatusLive {
			continue
		}
		hosts[st.Host] = true
		watched = append(watched, id)
	}
	s.mu.Lock()
	for p := range s.probes {
		if !hosts[p] && !s.probes[p].inFlight {
			delete(s.probes, p)
		}
	}
	watching = len(s.probes) > 0 || len(hosts) > 0
	s.mu.Unlock()
	for p := range hosts {
		s.probeHost(p)
	}
	for _, id := range watched {
		s.watchHost(ctx, id)
	}
	return watching
}

// hostProbe is what the liveness probe knows of one host.
type hostProbe struct {
	inFlight bool
	answered time.Time // last answer to a ping
}

// probeHost pings a host, unless a ping to it is under way.
func (s *Service) probeHost(host peer.ID) {
	s.mu.Lock()
	pr := s.probes[host]
	if pr == nil {
		pr = &hostProbe{}
		s.probes[host] = pr
	}
	if pr.inFlight {
		s.mu.Unlock()
		return
	}
	pr.inFlight = true
	s.mu.Unlock()
	s.goFn(func(ctx context.Context) {
		alive := s.answers(ctx, host, s.cfg.HostTimeout)
		s.mu.Lock()
		defer s.mu.Unlock()
		pr.inFlight = false
		if alive {
			pr.answered = s.cfg.Now()
		}
	})
}

func (s *Service) roomIDs() []rooms.RoomID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.rooms))
}

// watchHost takes the room over when its host has been silent long enough
// and every moderator before this node in rooms.Successors has had its
// turn: each successor waits one more HostTimeout than the one before.
func (s *Service) watchHost(ctx context.Context, id rooms.RoomID) {
	s.mu.Lock()
	r, ok := s.rooms[id]
	if !ok {
		s.mu.Unlock()
		return
	}
	st, heard := r.state, r.lastHeard
	if pr := s.probes[st.Host]; pr != nil && pr.answered.After(heard) {
		heard = pr.answered
	}
	silent := s.cfg.Now().Sub(heard)
	s.mu.Unlock()
	// A watcher that was itself starved read the host's answers late:
	// it waits twice its own lateness more before calling the host dead.
	late := s.late.recent()
	rank := slices.Index(rooms.Successors(st.State), s.self())
	if rank < 0 || silent < time.Duration(rank+1)*s.cfg.HostTimeout+2*late {
		return
	}
	s.log.Info("host silent: taking the room over", "room", id, "old_host", st.Host, "silent", silent, "own_lateness", late)
	s.takeOver(ctx, st)
}

// takeOver signs and spreads the takeover of st by this node. Should
// another moderator do the same at the same moment, rooms.Takeover's
// version rule makes everyone settle on the one earlier in Successors.
func (s *Service) takeOver(ctx context.Context, st *rooms.SignedState) {
	next, err := rooms.Takeover(st.State, s.self(), s.cfg.Now())
	if err != nil {
		s.log.Warn("cannot take the room over", "room", st.Room, "err", err)
		return
	}
	signed, err := rooms.SignState(s.cfg.Key, next)
	if err != nil {
		s.log.Warn("cannot sign the takeover", "room", st.Room, "err", err)
		return
	}
	if err := s.publishState(ctx, signed); err != nil {
		s.log.Warn("takeover not published", "room", st.Room, "err", err)
	}
}

// forgetIfAbandoned lets go of a room whose host has been silent for longer
// than every moderator's turn to take over, one more HostTimeout for the
// takeover to arrive, and a hallway expiry (three announce intervals) as a
// margin, and which does not answer a ping either: with nobody left to host
// it, the room is over for this node too, as it is for the hallway.
//
// The ping is there because letting go of a room whose host is merely slow
// to be heard (a loaded machine, gossip dropping messages under load) would
// cut this node off from a live room; a dead host does not answer it.
func (s *Service) forgetIfAbandoned(id rooms.RoomID) {
	s.mu.Lock()
	r, ok := s.rooms[id]
	if !ok || r.probing {
		s.mu.Unlock()
		return
	}
	st, silent := r.state, s.cfg.Now().Sub(r.lastHeard)
	turns := len(rooms.Successors(st.State)) + 2
	if silent < time.Duration(turns)*s.cfg.HostTimeout+3*s.cfg.AnnounceInterval {
		s.mu.Unlock()
		return
	}
	r.probing = true
	s.mu.Unlock()
	s.goFn(func(ctx context.Context) {
		alive := s.answers(ctx, st.Host, 2*s.cfg.HostTimeout)
		s.mu.Lock()
		r.probing = false
		if alive {
			r.lastHeard = s.cfg.Now()
		}
		current := s.rooms[id] == r && r.state == st
		s.mu.Unlock()
		if alive || !current || ctx.Err() != nil {
			return
		}
		s.log.Info("room abandoned: its host and every moderator are silent", "room", id, "host", st.Host, "silent", silent)
		s.drop(id)
	})
}

// answers reports whether p answers a libp2p ping within timeout.
func (s *Service) answers(ctx context.Context, p peer.ID, timeout time.Duration) bool {
	return answersPing(ctx, s.cfg.P2P.Host(), p, timeout)
}

// answersPing reports whether p answers a libp2p ping from h within
// timeout.
func answersPing(ctx context.Context, h host.Host, p peer.ID, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, ok := <-ping.Ping(ctx, h, p)
	return ok && res.Error == nil
}

// startDue opens a scheduled room this node hosts once its start has come,
// and reports whether it has come. Only the host's node decides this
// (rooms.GoLive); the tick checks twice per announce interval.
func (s *Service) startDue(ctx context.Context, id rooms.RoomID) bool {
	s.signMu.Lock()
	defer s.signMu.Unlock()
	st, ok := s.State(id)
	if !ok || st.Host != s.self() || st.Status != rooms.StatusScheduled || s.cfg.Now().Before(st.Start) {
		return false
	}
	next, err := rooms.GoLive(st.State, s.cfg.Now())
	if err != nil {
		s.log.Warn("cannot open the scheduled room", "room", id, "err", err)
		return true
	}
	signed, err := rooms.SignState(s.cfg.Key, next)
	if err != nil {
		s.log.Warn("cannot sign the scheduled room's start", "room", id, "err", err)
		return true
	}
	if err := s.publishState(ctx, signed); err != nil {
		s.log.Warn("scheduled room's start not published", "room", id, "err", err)
		return true
	}
	s.log.Info("scheduled room is live", "room", id, "start", st.Start, "late", s.cfg.Now().Sub(st.Start))
	return true
}

// lateMeters are how late the service's two loops wake (tick and
// liveness). A process starved of CPU is starved in both, so either's
// lateness is allowed for wherever the service judges others by silence.
type lateMeters struct {
	tick, live lateness.Meter
}

// recent is the worse of the two loops' recent lateness.
func (l *lateMeters) recent() time.Duration {
	return max(l.tick.Recent(), l.live.Recent())
}
