package rooms

import (
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Admission is what the host knows about a joiner, gathered by its node
// (membership from the hello protocol, its follow list, the ticket the
// joiner presented, the block lists its moderators shared). Apply decides
// with it; keeping the lookups outside keeps Apply pure.
type Admission struct {
	// Member: the joiner proved membership of the room's network.
	Member bool
	// Followed: the host follows the joiner (needed for social rooms).
	Followed bool
	// Ticket is the room ticket the joiner presented (closed rooms), or nil.
	Ticket *SignedTicket
	// Pass is the supporter pass the joiner presented (supporters' rooms),
	// or nil; PassRevoked says its issuer withdrew it.
	Pass        *SignedPass
	PassRevoked bool
	// BlockedBy lists peers known to have blocked the joiner. A block by
	// any moderator of the room, the host included, keeps the joiner out.
	BlockedBy []peer.ID
}

// Apply checks req against the permission table and the room's rules and
// returns the next state, one version up; or an error saying why not, with
// s unchanged (Apply never modifies s's lists). req must come from
// ParseRequest or SignRequest (its From is the verified signer) and should
// have passed a ReplayGuard. The next state's Updated is the request's time
// (never earlier than s.Updated).
//
// The result is signed by its Host. That is the same host, except when the
// host leaves: then the result names Successor as host, and it is the
// successor that applies the host's leave request and signs; with no
// successor the host's leave ends the room and the host signs.
func Apply(s State, req Request, adm Admission) (State, error) {
	fail := func(err error) (State, error) {
		return State{}, fmt.Errorf("room %s: %s: %w", s.Room, req.Kind, err)
	}
	if req.Room != s.Room {
		return State{}, fmt.Errorf("room %s: %w: the request is for %s", s.Room, ErrUnknownRoom, req.Room)
	}
	role, err := permitted(&s, req)
	if err == nil {
		err = precheck(&s, req, role)
	}
	if err != nil {
		return fail(err)
	}
	if req.Action() == ActLeave && role == RoleHost {
		return hostLeaves(s, req.Time)
	}
	next := s.Clone()
	if err := act(&s, &next, req, adm); err != nil {
		return fail(err)
	}
	return bump(next, s, req.Time), nil
}

// permitted checks that req is well formed, that the room takes requests,
// and that the permission table lets the requester's role do it.
func permitted(s *State, req Request) (Role, error) {
	if err := req.Validate(); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return permittedRole(s, req.From, req.Action())
}

// permittedRole checks that the room takes requests and that the
// permission table lets from's role do action.
func permittedRole(s *State, from peer.ID, action Action) (Role, error) {
	switch {
	case s.Status == StatusEnded:
		return 0, ErrRoomEnded
	case s.Status == StatusScheduled && action != ActEnd:
		return 0, fmt.Errorf("%w: it is scheduled for %s", ErrNotLive, s.Start.Format(time.RFC3339))
	}
	role := s.RoleOf(from)
	if t := Permissions(); !t.Allowed(role, action) {
		switch {
		case action == ActJoin:
			return 0, fmt.Errorf("%w: %s is already in the room", ErrNotAllowed, from)
		case s.IsBanned(from):
			return 0, fmt.Errorf("%w: %w: %s", ErrNotAllowed, ErrBanned, from)
		case role == RoleNonParticipant:
			return 0, fmt.Errorf("%w: %w: %s", ErrNotAllowed, ErrNotInRoom, from)
		}
		return 0, t.refusal(from, role, action)
	}
	return role, nil
}

// hostLeaves is the host's leave: a handover to the successor (who signs
// it), unlike a takeover of a silent host with the host who leaves out of
// the room; with no successor the room ends.
func hostLeaves(s State, now time.Time) (State, error) {
	succ, ok := Successor(s)
	if !ok {
		next := s.Clone()
		next.Status = StatusEnded
		return bump(next, s, now), nil
	}
	handed, err := Takeover(s, succ, now)
	if err == nil {
		removeFromRoom(&handed, s.Host)
	}
	return handed, err
}

// act makes next what req asks of s (permitted and prechecked already), or
// says why not.
func act(s, next *State, req Request, adm Admission) error {
	from := req.From
	switch action := req.Action(); action {
	case ActJoin:
		return join(next, from, adm, req.Time)
	case ActLeave:
		removeFromRoom(next, from)
	case ActRaiseHand:
		return add(&next.Hands, from, MaxHands, "raised hands", "%s's hand is already raised")
	case ActLowerHand:
		return drop(&next.Hands, from, "%s's hand is not raised")
	case ActInviteSpeaker:
		next.Hands = without(next.Hands, req.Target)
		return add(&next.Invited, req.Target, MaxInvited, "invitations", "%s is already invited to speak")
	case ActAcceptInvite:
		if len(s.Speakers) >= MaxStage {
			return fmt.Errorf("%w: the stage has %d speakers", ErrRoomFull, len(s.Speakers))
		}
		next.Audience, next.Invited, next.Hands = without(next.Audience, from), without(next.Invited, from), without(next.Hands, from)
		// New speakers come up muted: their microphone opens when they say.
		next.Speakers = append(next.Speakers, Speaker{Peer: from, Muted: true})
	case ActDeclineInvite:
		next.Invited = without(next.Invited, from)
	case ActMoveToAudience:
		return toAudience(next, req.Target)
	case ActMuteSelf:
		return setMuted(next, from, true)
	case ActMuteOther:
		return setMuted(next, req.Target, true)
	case ActUnmuteSelf:
		return setMuted(next, from, false)
	case ActRemove:
		removeFromRoom(next, req.Target)
		return add(&next.Banned, req.Target, MaxBanned, "ban list", "%s is already banned")
	case ActMakeModerator:
		return add(&next.Moderators, req.Target, MaxStage, "moderators", "%s is already a moderator")
	case ActStepDown:
		return toAudience(next, from)
	case ActEnd:
		next.Status = StatusEnded
	default:
		return fmt.Errorf("%w: unknown action", ErrMalformed)
	}
	return nil
}

// canModerate: a moderator is someone on the stage who is not one yet.
func canModerate(s *State, p peer.ID) error {
	switch {
	case !s.InRoom(p):
		return fmt.Errorf("%w: %s", ErrNotInRoom, p)
	case !s.OnStage(p):
		return fmt.Errorf("%w: %s must be on the stage to be made a moderator", ErrNotInRoom, p)
	case s.IsModerator(p):
		return fmt.Errorf("%w: %s is already a moderator", ErrNoChange, p)
	}
	return nil
}

// join admits p as a listener if the room's rules let it in.
func join(s *State, p peer.ID, adm Admission, now time.Time) error {
	if !adm.Member {
		return fmt.Errorf("%w: %s is not a member of this network", ErrNotAdmitted, p)
	}
	if s.IsBanned(p) {
		return fmt.Errorf("%w: %s", ErrBanned, p)
	}
	for _, b := range adm.BlockedBy {
		if s.IsModerator(b) {
			return fmt.Errorf("%w: %s is blocked by %s, a moderator of this room", ErrNotAdmitted, p, b)
		}
	}
	switch s.Type {
	case TypeSocial:
		if !adm.Followed {
			return fmt.Errorf("%w: this is a social room and the host does not follow %s", ErrNotAdmitted, p)
		}
	case TypeClosed:
		if adm.Ticket == nil {
			return fmt.Errorf("%w: this is a closed room and %s has no ticket", ErrNotAdmitted, p)
		}
		if err := adm.Ticket.Check(s.Room, p, now, s.Host, s.Creator); err != nil {
			return fmt.Errorf("%w: %w", ErrNotAdmitted, err)
		}
	case TypeSupporters:
		if adm.Pass == nil {
			return fmt.Errorf("%w: this room is for the host's supporters and %s has no supporter pass", ErrNotAdmitted, p)
		}
		if adm.PassRevoked {
			return fmt.Errorf("%w: %s's supporter pass was revoked", ErrNotAdmitted, p)
		}
		if err := adm.Pass.Check(p, now, s.Host, s.Creator); err != nil {
			return fmt.Errorf("%w: %w", ErrNotAdmitted, err)
		}
	}
	return add(&s.Audience, p, MaxAudience, "audience", "%s is already in the room")
}

// inAudience: an invitation goes to a listener.
func inAudience(s *State, p peer.ID) error {
	switch {
	case s.OnStage(p):
		return fmt.Errorf("%w: %s is already on the stage", ErrNoChange, p)
	case !slices.Contains(s.Audience, p):
		return fmt.Errorf("%w: %s", ErrNotInRoom, p)
	}
	return nil
}

// actOnSpeaker checks the target rules of actions on someone on the stage:
// never the host, and a moderator only by the host when rankSensitive.
func actOnSpeaker(s *State, role Role, p peer.ID, what string, rankSensitive bool) error {
	switch {
	case !s.InRoom(p):
		return fmt.Errorf("%w: %s", ErrNotInRoom, p)
	case !s.OnStage(p):
		return fmt.Errorf("%w: %s is in the audience, not on the stage", ErrNotInRoom, p)
	case p == s.Host:
		return fmt.Errorf("%w: nobody can "+what, ErrNotAllowed, "the host")
	case rankSensitive && s.IsModerator(p) && role != RoleHost:
		return fmt.Errorf("%w: only the host can "+what, ErrNotAllowed, "a moderator")
	}
	return nil
}

// removable: the target of a remove (kicked and banned for the life of the
// room) is in the room, and not the host, nor a moderator unless the host
// asks.
func removable(s *State, role Role, p peer.ID) error {
	switch {
	case !s.InRoom(p):
		return fmt.Errorf("%w: %s", ErrNotInRoom, p)
	case p == s.Host:
		return fmt.Errorf("%w: nobody can remove the host", ErrNotAllowed)
	case s.IsModerator(p) && role != RoleHost:
		return fmt.Errorf("%w: only the host can remove a moderator", ErrNotAllowed)
	}
	return nil
}

// toAudience moves p from the stage to the audience; a moderator stops being
// one, since moderators are on the stage.
func toAudience(s *State, p peer.ID) error {
	if len(s.Audience) >= MaxAudience {
		return fmt.Errorf("%w: the audience has %d listeners", ErrRoomFull, len(s.Audience))
	}
	s.Moderators = without(s.Moderators, p)
	s.Speakers = slices.DeleteFunc(s.Speakers, func(sp Speaker) bool { return sp.Peer == p })
	s.Audience = append(s.Audience, p)
	return nil
}

func setMuted(s *State, p peer.ID, muted bool) error {
	if err := mutedAlready(s, p, muted); err != nil {
		return err
	}
	s.Speakers[s.speakerIndex(p)].Muted = muted
	return nil
}

// add appends p to a list with a limit; dup is the message if it is there.
func add(list *[]peer.ID, p peer.ID, limit int, name, dup string) error {
	if slices.Contains(*list, p) {
		return fmt.Errorf("%w: "+dup, ErrNoChange, p)
	}
	if len(*list) >= limit {
		return fmt.Errorf("%w: %s has %d entries", ErrRoomFull, name, len(*list))
	}
	*list = append(*list, p)
	return nil
}

func drop(list *[]peer.ID, p peer.ID, missing string) error {
	if !slices.Contains(*list, p) {
		return fmt.Errorf("%w: "+missing, ErrNoChange, p)
	}
	*list = without(*list, p)
	return nil
}
