package roomnet

import "github.com/clubnode/clubnode/rooms"

// maxRemoved bounds the rooms Removed remembers: a node is in few rooms,
// and forgetting an old removal only makes a notice less precise.
const maxRemoved = 64

// markRemoved remembers that a moderator removed this node from a room,
// until it joins the room again.
func (s *Service) markRemoved(id rooms.RoomID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.removed) >= maxRemoved {
		clear(s.removed)
	}
	s.removed[id] = true
}

// Removed reports whether this node left a room because a moderator
// removed it (rather than leaving, or the room ending), so the web app can
// say so.
func (s *Service) Removed(id rooms.RoomID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removed[id]
}
