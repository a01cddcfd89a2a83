package rooms

import (
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// selfKinds are the requests a participant makes about itself, in the
// order a menu offers them; targetKinds those about someone else.
var (
	selfKinds = []Kind{KindRaiseHand, KindLowerHand, KindAcceptInvite, KindDeclineInvite,
		KindMute, KindUnmuteSelf, KindStepDown, KindLeave, KindEnd}
	targetKinds = []Kind{KindMute, KindInviteSpeaker, KindMoveToAudience, KindMakeModerator, KindRemove}
)

// Allowed says whether the host would apply a request of kind from viewer
// about target (empty, or viewer, for a request about viewer itself) to s:
// the permission table, then the rules about the target, then whether it
// would change anything. It is what Apply checks before it builds the next
// state, so a menu built from it offers nothing the host refuses, as long
// as the state does not change meanwhile.
func Allowed(s *State, viewer peer.ID, kind Kind, target peer.ID) error {
	if target == viewer {
		target = ""
	}
	req := Request{Room: s.Room, From: viewer, Kind: kind, Target: target}
	switch kind.target() {
	case needsTarget:
		if target == "" {
			return fmt.Errorf("%w: %s needs the peer it is about", ErrMalformed, kind)
		}
	case noTarget:
		if target != "" {
			return fmt.Errorf("%w: %s is about the sender only", ErrMalformed, kind)
		}
	}
	role, err := permittedRole(s, viewer, req.Action())
	if err != nil {
		return err
	}
	return precheck(s, req, role)
}

// ActionsFor lists the kinds of request viewer may make about itself
// (Self) and about each other participant (Peers, only those with at
// least one), by Allowed.
func ActionsFor(s *State, viewer peer.ID) PeerActions {
	out := PeerActions{Peers: map[peer.ID][]Kind{}}
	for _, k := range selfKinds {
		if Allowed(s, viewer, k, "") == nil {
			out.Self = append(out.Self, k)
		}
	}
	if role := s.RoleOf(viewer); role == RoleListener || role == RoleInvited || role == RoleNonParticipant {
		// The table gives listeners nothing to do to anyone else.
		return out
	}
	for _, sp := range s.Speakers {
		if sp.Peer != viewer {
			out.add(sp.Peer, targetActions(s, viewer, sp.Peer))
		}
	}
	// The target rules see a listener only as in the audience and invited
	// or not, so two answers serve the whole audience: asking for each of
	// 4000 listeners would take a quarter of a second.
	var byInvited [2][]Kind
	var known [2]bool
	for _, p := range s.Audience {
		inv := 0
		if slices.Contains(s.Invited, p) {
			inv = 1
		}
		if !known[inv] {
			byInvited[inv], known[inv] = targetActions(s, viewer, p), true
		}
		out.add(p, byInvited[inv])
	}
	return out
}

// PeerActions is what ActionsFor answers.
type PeerActions struct {
	Self  []Kind
	Peers map[peer.ID][]Kind
}

func (a PeerActions) add(p peer.ID, kinds []Kind) {
	if len(kinds) > 0 {
		a.Peers[p] = kinds
	}
}

func targetActions(s *State, viewer, p peer.ID) []Kind {
	var out []Kind
	for _, k := range targetKinds {
		if Allowed(s, viewer, k, p) == nil {
			out = append(out, k)
		}
	}
	return out
}

// precheck applies the rules about the target of req and refuses a request
// that would change nothing, without building the next state. role is the
// requester's, already permitted by the table.
func precheck(s *State, req Request, role Role) error {
	from, p := req.From, req.Target
	switch req.Action() {
	case ActRaiseHand:
		if s.HandRaised(from) {
			return fmt.Errorf("%w: %s's hand is already raised", ErrNoChange, from)
		}
	case ActLowerHand:
		if !s.HandRaised(from) {
			return fmt.Errorf("%w: %s's hand is not raised", ErrNoChange, from)
		}
	case ActInviteSpeaker:
		if err := inAudience(s, p); err != nil {
			return err
		}
		if slices.Contains(s.Invited, p) {
			return fmt.Errorf("%w: %s is already invited to speak", ErrNoChange, p)
		}
	case ActMoveToAudience:
		return actOnSpeaker(s, role, p, "move %s to the audience", true)
	case ActMuteSelf, ActUnmuteSelf:
		return mutedAlready(s, from, req.Action() == ActMuteSelf)
	case ActMuteOther:
		if err := actOnSpeaker(s, role, p, "mute %s", false); err != nil {
			return err
		}
		return mutedAlready(s, p, true)
	case ActRemove:
		return removable(s, role, p)
	case ActMakeModerator:
		return canModerate(s, p)
	}
	return nil
}

// mutedAlready refuses to set p's mute to what it is already.
func mutedAlready(s *State, p peer.ID, muted bool) error {
	i := s.speakerIndex(p)
	if i < 0 {
		return fmt.Errorf("%w: %s is not on the stage", ErrNotInRoom, p)
	}
	if s.Speakers[i].Muted == muted {
		return fmt.Errorf("%w: %s is already %s", ErrNoChange, p, map[bool]string{true: "muted", false: "unmuted"}[muted])
	}
	return nil
}
