package roomnet

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/rooms"
)

// pruneStage is the host's presence check of its stage: whoever is on
// stage hangs directly under the host, so a speaker or moderator this node
// has had no connection to for PresenceTimeout is gone (its node died, or
// it is the old host after a takeover and never came back), and is pruned
// from the room. The audience is left alone: listeners hang under relays
// and need no connection to the host.
func (s *Service) pruneStage(ctx context.Context, id rooms.RoomID) {
	now := s.cfg.Now()
	s.mu.Lock()
	r, ok := s.rooms[id]
	if !ok || r.state.Host != s.self() || r.state.Status != rooms.StatusLive {
		s.mu.Unlock()
		return
	}
	st := r.state
	if r.absentSince == nil {
		r.absentSince = map[peer.ID]time.Time{}
	}
	var gone []peer.ID
	onStage := map[peer.ID]bool{}
	for _, sp := range st.Speakers {
		p := sp.Peer
		if p == s.self() {
			continue
		}
		onStage[p] = true
		if s.host().Network().Connectedness(p) == network.Connected {
			delete(r.absentSince, p)
			continue
		}
		since, seen := r.absentSince[p]
		if !seen {
			r.absentSince[p] = now
		} else if now.Sub(since) >= s.cfg.PresenceTimeout {
			gone = append(gone, p)
		}
	}
	for p := range r.absentSince {
		if !onStage[p] {
			delete(r.absentSince, p)
		}
	}
	s.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	s.signMu.Lock()
	defer s.signMu.Unlock()
	cur, ok := s.State(id)
	if !ok || cur.Host != s.self() {
		return
	}
	next, err := rooms.Prune(cur.State, gone, now)
	if err != nil {
		return
	}
	signed, err := rooms.SignState(s.cfg.Key, next)
	if err != nil {
		s.log.Warn("cannot sign a pruned stage", "room", id, "err", err)
		return
	}
	if err := s.publishState(ctx, signed); err != nil {
		s.log.Warn("pruned stage not published", "room", id, "err", err)
		return
	}
	s.log.Info("pruned the stage of people out of reach", "room", id, "gone", gone)
}
