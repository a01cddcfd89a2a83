package roomnet

import (
	"context"
	"errors"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/rooms"
)

type peerID = peer.ID

func (s *Service) startHallway() error {
	ps := s.cfg.P2P.PubSub()
	name := hallwayTopic(s.network)
	if err := ps.RegisterTopicValidator(name, s.validateAnnouncement); err != nil {
		return err
	}
	topic, err := ps.Join(name)
	if err != nil {
		return err
	}
	sub, err := topic.Subscribe()
	if err != nil {
		_ = topic.Close()
		return err
	}
	s.hallway = topic
	s.goFn(func(ctx context.Context) {
		defer sub.Cancel()
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if a, ok := msg.ValidatorData.(*rooms.SignedAnnouncement); ok {
				s.heardFromHost(a.Room, a.Host)
			}
		}
	})
	return nil
}

// validateAnnouncement admits an announcement into the directory: signed
// by its host, who must be the message's author and a member; fresh (the
// directory refuses replays and rate-limits each author).
func (s *Service) validateAnnouncement(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	a, err := rooms.ParseAnnouncement(msg.Data)
	if err != nil || a.Host != msg.GetFrom() {
		return pubsub.ValidationReject
	}
	if from != s.self() && !s.isMember(a.Host) {
		return pubsub.ValidationIgnore // may be a member this node has not heard of yet
	}
	if err := s.dir.Put(a); err != nil {
		if errors.Is(err, rooms.ErrStaleVersion) || errors.Is(err, rooms.ErrRateLimited) || errors.Is(err, rooms.ErrRoomEnded) {
			return pubsub.ValidationIgnore
		}
		return pubsub.ValidationReject
	}
	msg.ValidatorData = a
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(a.Room)
	}
	if a.Host != s.self() {
		if held, ok := s.State(a.Room); ok && held.Host == s.self() && a.Version > held.Version {
			s.yield(a.Room, a.Host)
		}
		s.heardVersion(a)
	}
	return pubsub.ValidationAccept
}

// yield hands a room this node hosts to the node that took it over while
// this one was out of reach (announcing a later version of it): this node
// asks the new host for the room's state (a join: it is in the room, as a
// moderator since the takeover) and takes that state, so the room has one
// host again.
func (s *Service) yield(id rooms.RoomID, host peer.ID) {
	s.mu.Lock()
	r, ok := s.rooms[id]
	if !ok || r.yielding {
		s.mu.Unlock()
		return
	}
	r.yielding = true
	s.mu.Unlock()
	s.goFn(func(ctx context.Context) {
		defer func() {
			s.mu.Lock()
			r.yielding = false
			s.mu.Unlock()
		}()
		req, err := rooms.SignRequest(s.cfg.Key, rooms.Request{Room: id, Kind: rooms.KindJoin, Time: s.cfg.Now()})
		if err != nil {
			return
		}
		next, err := s.send(ctx, host, req, nil, nil)
		if err == nil {
			err = s.accept(r, next)
		}
		if err != nil {
			s.log.Warn("another node announces a room this node hosts, but its state was not taken", "room", id, "host", host, "err", err)
			return
		}
		if err := s.persist(id); err != nil {
			s.log.Warn("could not store the room's state", "room", id, "err", err)
		}
		s.rememberJoined(next)
		s.log.Info("another node took this room over: back in it as what its state says", "room", id, "host", host,
			"role", next.RoleOf(s.self()))
	})
}

// validateState admits a room state only if the rules accept it after the
// state held here (no rollback, no forged host).
func (s *Service) validateState(id rooms.RoomID) pubsub.ValidatorEx {
	return func(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		if from == s.self() {
			return pubsub.ValidationAccept
		}
		next, err := rooms.ParseState(msg.Data)
		if err != nil || next.Room != id || next.Host != msg.GetFrom() {
			return pubsub.ValidationReject
		}
		held, ok := s.State(id)
		if !ok {
			return pubsub.ValidationIgnore
		}
		if next.Version <= held.Version {
			return pubsub.ValidationIgnore // already have it, or a replay
		}
		if err := rooms.Accept(held, next); err != nil {
			return pubsub.ValidationReject
		}
		msg.ValidatorData = next
		return pubsub.ValidationAccept
	}
}

// readStates applies the states a room's host publishes.
func (s *Service) readStates(ctx context.Context, id rooms.RoomID, sub *pubsub.Subscription) {
	defer sub.Cancel()
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			return
		}
		next, ok := msg.ValidatorData.(*rooms.SignedState)
		if !ok {
			continue
		}
		if !s.applyState(id, next) {
			return
		}
	}
}

// applyState takes next, a state of room id that passed the rules, from
// the room's gossip or pushed by its host. It reports whether this node is
// still in the room.
func (s *Service) applyState(id rooms.RoomID, next *rooms.SignedState) bool {
	s.mu.Lock()
	r := s.rooms[id]
	var wasHost bool
	var prevHost peer.ID
	if r != nil {
		prevHost = r.state.Host
		wasHost = prevHost == s.self()
	}
	s.mu.Unlock()
	if r == nil {
		return false
	}
	if err := s.accept(r, next); err != nil {
		return true
	}
	if next.Host != prevHost {
		s.rememberJoined(next) // who hosts it now, for a restart
	}
	if next.Host == s.self() || wasHost {
		// This node was handed the room (the host left), or gave it up
		// to an earlier successor's competing takeover: either way
		// Restore must see the new host after a restart, and not end a
		// room that someone else now hosts.
		if err := s.persist(id); err != nil {
			s.log.Warn("could not store the room's state", "room", id, "err", err)
		}
	}
	if !next.InRoom(s.self()) || next.Status == rooms.StatusEnded {
		if next.IsBanned(s.self()) {
			s.markRemoved(id)
		}
		s.drop(id)
		return false
	}
	return true
}

// persist stores the state this node holds of a room now, not a state a
// caller accepted a moment ago: a competing takeover accepted in between
// (readStates) must not be overwritten by the older one on disk.
func (s *Service) persist(id rooms.RoomID) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	st, ok := s.State(id)
	if !ok {
		return nil
	}
	return s.cfg.Store.SaveState(st)
}

func (s *Service) heardFromHost(id rooms.RoomID, host peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.rooms[id]; ok && r.state.Host == host {
		r.lastHeard = s.cfg.Now()
	}
}

// announce publishes the hallway entry of a room this node hosts.
func (s *Service) announce(ctx context.Context, id rooms.RoomID) {
	s.mu.Lock()
	r, ok := s.rooms[id]
	if !ok || r.state.Host != s.self() {
		s.mu.Unlock()
		return
	}
	r.seq = rooms.NextSeq(r.seq, s.cfg.Now())
	a := rooms.AnnouncementOf(&r.state.State, r.seq, s.cfg.Now().Add(hallwayTTL(s.cfg)))
	s.mu.Unlock()
	if m, ok := s.Media(id); ok && m.Subtree > 1 {
		// The listener count summed up the relay tree: everyone linked
		// below the host who is not on stage.
		a.Listeners = uint32(max(m.Subtree-len(a.Speakers), 0))
	}
	if a.Type == rooms.TypeSocial {
		// Read the follow list at every announcement, so a follow or an
		// unfollow shows in hallways within one interval.
		a.Followed = s.follow.Tags(id, s.cfg.Store.FollowList())
	}
	signed, err := rooms.SignAnnouncement(s.cfg.Key, a)
	if err != nil {
		s.log.Error("sign announcement", "room", id, "err", err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.hallway.Publish(pctx, signed.Bytes); err != nil {
		s.log.Debug("publish announcement", "room", id, "err", err)
	}
}
