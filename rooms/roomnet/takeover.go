package roomnet

import (
	"context"
	"slices"
	"time"

	"github.com/clubnode/clubnode/rooms"
)

// tick re-announces hosted rooms, expires the hallway, and watches the
// hosts of rooms this node moderates.
func (s *Service) tick(ctx context.Context) {
	t := time.NewTicker(s.cfg.AnnounceInterval / 2)
	defer t.Stop()
	var n int
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n++
		s.dir.Expire(s.cfg.Now())
		for _, id := range s.roomIDs() {
			st, ok := s.State(id)
			if !ok {
				continue
			}
			switch {
			case st.Host == s.self() && n%2 == 0:
				s.announce(ctx, id)
			case st.Host != s.self() && st.IsModerator(s.self()):
				s.watchHost(ctx, id)
			}
		}
	}
}

func (s *Service) roomIDs() []rooms.RoomID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]rooms.RoomID, 0, len(s.rooms))
	for id := range s.rooms {
		out = append(out, id)
	}
	return out
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
	st, silent := r.state, s.cfg.Now().Sub(r.lastHeard)
	s.mu.Unlock()
	rank := slices.Index(rooms.Successors(st.State), s.self())
	if rank < 0 || silent < time.Duration(rank+1)*s.cfg.HostTimeout {
		return
	}
	next, err := rooms.Takeover(st.State, s.self(), s.cfg.Now())
	if err != nil {
		s.log.Warn("cannot take the room over", "room", id, "err", err)
		return
	}
	signed, err := rooms.SignState(s.cfg.Key, next)
	if err != nil {
		return
	}
	s.log.Info("host silent: taking the room over", "room", id, "old_host", st.Host, "silent", silent)
	if err := s.publishState(ctx, signed); err != nil {
		s.log.Warn("takeover not published", "room", id, "err", err)
	}
}
