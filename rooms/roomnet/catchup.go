package roomnet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/rooms"
)

// A participant whose node missed a room state on gossip (a validator
// queue full on a busy machine drops messages, and gossipsub's own repair
// advertises a message for a heartbeat only) would keep the state before
// it until the next change: a speaker unmuted in the missed state stays
// muted for it, and the audio it is sent is dropped as not audible. The
// host's announcements carry the version it holds, so a participant that
// sees itself behind for longer than gossip takes asks the host for the
// state (CatchUpProtocol).

// CatchUpProtocol asks a room's host for the room's current state. The
// host answers participants only; to anyone else it says not-in-room,
// which tells a participant that missed its own removal that it is out.
const CatchUpProtocol protocol.ID = "/clubnode/room-catch-up/1.0.0"

// catchUpGrace is how long a participant may be behind the version the
// host announces before it asks: the host publishes a state and announces
// it together, and the state usually arrives in milliseconds.
const catchUpGrace = time.Second

// maxCatchUpFrame bounds the question, which names one room.
const maxCatchUpFrame = 256

type catchUpMsg struct {
	Room string `cbor:"0,keyasint"`
}

var catchUpProto = rpc.Protocol[catchUpMsg, stateReply]{ID: CatchUpProtocol,
	MaxRequest: maxCatchUpFrame, MaxReply: maxReplyFrame, Timeout: requestTimeout, Codes: Codes, Limited: true}

// serveCatchUp is the host's side.
func (s *Service) serveCatchUp(_ context.Context, from peerID, msg catchUpMsg) (stateReply, error) {
	id, err := rooms.ParseRoomID(msg.Room)
	if err != nil {
		return stateReply{}, err
	}
	st, ok := s.State(id)
	if !ok || st.Host != s.self() {
		return stateReply{}, fmt.Errorf("%w: %s is not hosted by this node", rooms.ErrUnknownRoom, id)
	}
	if !st.InRoom(from) {
		return stateReply{}, fmt.Errorf("%w: %s", rooms.ErrNotInRoom, from)
	}
	return stateReply{State: st.Bytes}, nil
}

// heardVersion is told, for each announcement of a room by its host, the
// version the host holds. When this node, in the room, is behind it, it
// asks the host for the state catchUpGrace later unless the state came
// meanwhile (accept clears behindSince); an announcement that finds it
// still behind after a failed ask asks again.
func (s *Service) heardVersion(a *rooms.SignedAnnouncement) {
	now := s.cfg.Now()
	s.mu.Lock()
	r, ok := s.rooms[a.Room]
	if !ok || r.state.Host != a.Host || a.Host == s.self() || !r.state.InRoom(s.self()) {
		s.mu.Unlock()
		return
	}
	var later, atOnce bool // ask after the grace, or at once
	switch {
	case a.Version <= r.state.Version:
		r.behindSince = time.Time{}
	case r.behindSince.IsZero():
		r.behindSince, later = now, true
	case now.Sub(r.behindSince) >= catchUpGrace && !r.catchingUp:
		r.catchingUp, atOnce = true, true
	}
	since := r.behindSince
	s.mu.Unlock()
	switch {
	case atOnce:
		s.goFn(func(ctx context.Context) { s.catchUp(ctx, r, a.Room, a.Host) })
	case later:
		s.goFn(func(ctx context.Context) {
			t := time.NewTimer(catchUpGrace)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s.mu.Lock()
			still := r.behindSince.Equal(since) && !r.catchingUp
			if still {
				r.catchingUp = true
			}
			s.mu.Unlock()
			if still {
				s.catchUp(ctx, r, a.Room, a.Host)
			}
		})
	}
}

// catchUp asks host for room id's state and takes it; the caller has set
// r.catchingUp.
func (s *Service) catchUp(ctx context.Context, r *room, id rooms.RoomID, host peerID) {
	defer func() {
		s.mu.Lock()
		r.catchingUp = false
		s.mu.Unlock()
	}()
	reply, err := catchUpProto.Call(ctx, s.host(), host, catchUpMsg{Room: string(id)})
	if errors.Is(err, rooms.ErrNotInRoom) {
		// The host holds a state without this node: it missed its own
		// removal (or a ban it will hear of with the state).
		s.log.Info("the room's host says this node is no longer in the room", "room", id, "host", host)
		s.drop(id)
		return
	}
	if err != nil {
		s.log.Debug("could not catch up with the room's state", "room", id, "host", host, "err", err)
		return
	}
	next, err := hostsState(reply.State, id, host)
	if err != nil {
		s.log.Warn("the room's host sent a state this node cannot take", "room", id, "host", host, "err", err)
		return
	}
	if held, ok := s.State(id); ok && next.Version > held.Version {
		s.log.Info("caught up with a room state gossip did not bring", "room", id, "from", held.Version, "to", next.Version)
		s.applyState(id, next)
	}
}
