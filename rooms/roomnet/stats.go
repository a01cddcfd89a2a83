package roomnet

import "github.com/clubnode/clubnode/rooms"

// Read-only views for the node's metrics.

// Rooms returns the latest state of every room this node holds.
func (s *Service) Rooms() []*rooms.SignedState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*rooms.SignedState, 0, len(s.rooms))
	for _, r := range s.rooms {
		if r.state != nil {
			out = append(out, r.state)
		}
	}
	return out
}

// LinkRepairs counts the times this node lost its parent in a room's relay
// tree and went looking for a new one.
func (s *Service) LinkRepairs() uint64 {
	if s.media == nil {
		return 0
	}
	return s.media.repairs.Load()
}

// LinkFailovers counts the times this node, having lost its parent, linked
// to one of the backup parents its assignment named.
func (s *Service) LinkFailovers() uint64 {
	if s.media == nil {
		return 0
	}
	return s.media.failovers.Load()
}

// StandbyActivations counts the failovers of LinkFailovers that activated
// a standby link to the backup (standby.go) rather than opening a new one.
func (s *Service) StandbyActivations() uint64 {
	if s.media == nil {
		return 0
	}
	return s.media.standbyActivations.Load()
}

// LostRelaysRemoved counts the relays this node, as a room's host, took
// out of the tree after a child reported them lost and they did not
// answer a ping.
func (s *Service) LostRelaysRemoved() uint64 {
	if s.media == nil {
		return 0
	}
	return s.media.lostRemoved.Load()
}
