package rooms

import (
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/safetext"
)

// Limits of a room state. The audience is listed in the state (the issue
// wants every participant to see it), so its limit and MaxStateSize go
// together: 4000 listeners of about 40 bytes each, plus full lists of
// hands, invitations, bans and the stage, fit in 256 KiB. A room larger than
// that needs listener counts summed up the relay tree instead of a list.
const (
	MaxStateSize     = 256 << 10
	MaxTitleLength   = 100
	MaxStage         = 64
	MaxAudience      = 4000
	MaxHands         = 500
	MaxInvited       = 64
	MaxBanned        = 1024
	maxSpeakerFields = 2
)

// Speaker is one person on the stage.
type Speaker struct {
	Peer  peer.ID
	Muted bool
}

// State is the room state document: the one versioned truth about a room,
// signed by its current host. Every list is in a meaningful order:
// Moderators in the order they were made moderator (the host first when it
// created the room; Successor reads this order), Hands in the order they
// were raised, the rest in the order people arrived.
//
// Invariants (Validate): the host is a moderator; moderators are on the
// stage; everyone is either on the stage or in the audience, once; raised
// hands and invitations are in the audience; the banned are not in the room.
type State struct {
	Room    RoomID
	Network identity.NetworkID
	Title   string
	Type    RoomType
	// Creator made the room. It never changes, and room tickets it signed
	// stay valid after a moderator takes the room over.
	Creator peer.ID
	// Start is when a scheduled room is to begin; zero if it began at once.
	Start   time.Time
	Status  Status
	Host    peer.ID
	Version uint64

	Moderators []peer.ID
	Speakers   []Speaker
	Audience   []peer.ID
	Hands      []peer.ID
	Invited    []peer.ID
	Banned     []peer.ID
	Updated    time.Time
}

// Role is what a peer is in a room, for the permission table. Each peer has
// exactly one: the most powerful that applies.
type Role uint8

const (
	RoleHost Role = iota
	RoleModerator
	RoleSpeaker
	RoleListener
	RoleInvited
	RoleNonParticipant
	numRoles
)

var roleNames = [numRoles]string{"host", "moderator", "speaker", "listener", "invited", "non-participant"}

func (r Role) String() string {
	if r < numRoles {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Roles lists every role in the order of the permission table's columns.
func Roles() []Role {
	return []Role{RoleHost, RoleModerator, RoleSpeaker, RoleListener, RoleInvited, RoleNonParticipant}
}

// RoleOf says what p is in the room. The banned are non-participants.
func (s *State) RoleOf(p peer.ID) Role {
	switch {
	case p == s.Host:
		return RoleHost
	case slices.Contains(s.Moderators, p):
		return RoleModerator
	case s.OnStage(p):
		return RoleSpeaker
	case slices.Contains(s.Invited, p):
		return RoleInvited
	case slices.Contains(s.Audience, p):
		return RoleListener
	}
	return RoleNonParticipant
}

// OnStage reports whether p is a speaker (host and moderators included).
func (s *State) OnStage(p peer.ID) bool { return s.speakerIndex(p) >= 0 }

// Participants are everyone in the room: the stage, then the audience.
func (s *State) Participants() []peer.ID {
	out := make([]peer.ID, 0, len(s.Speakers)+len(s.Audience))
	for _, sp := range s.Speakers {
		out = append(out, sp.Peer)
	}
	return append(out, s.Audience...)
}

// InRoom reports whether p is on the stage or in the audience.
func (s *State) InRoom(p peer.ID) bool { return s.OnStage(p) || slices.Contains(s.Audience, p) }

// IsModerator reports whether p moderates the room (the host does).
func (s *State) IsModerator(p peer.ID) bool { return slices.Contains(s.Moderators, p) }

// IsBanned reports whether p was removed from the room.
func (s *State) IsBanned(p peer.ID) bool { return slices.Contains(s.Banned, p) }

// HandRaised reports whether p has a raised hand.
func (s *State) HandRaised(p peer.ID) bool { return slices.Contains(s.Hands, p) }

// Muted reports whether p is on the stage and muted.
func (s *State) Muted(p peer.ID) bool {
	i := s.speakerIndex(p)
	return i >= 0 && s.Speakers[i].Muted
}

func (s *State) speakerIndex(p peer.ID) int {
	return slices.IndexFunc(s.Speakers, func(sp Speaker) bool { return sp.Peer == p })
}

// Clone returns a copy that shares no slices with s, so a change to the copy
// never reaches a state someone else holds.
func (s State) Clone() State {
	s.Moderators = slices.Clone(s.Moderators)
	s.Speakers = slices.Clone(s.Speakers)
	s.Audience = slices.Clone(s.Audience)
	s.Hands = slices.Clone(s.Hands)
	s.Invited = slices.Clone(s.Invited)
	s.Banned = slices.Clone(s.Banned)
	return s
}

// Validate says what is wrong with a state, if anything. SignState and
// ParseState call it, so no invalid state is ever signed or believed.
func (s *State) Validate() error {
	if !s.Room.valid() {
		return fmt.Errorf("room id %q is not canonical", s.Room)
	}
	if s.Network == "" {
		return fmt.Errorf("no network")
	}
	if err := validateTitle(s.Title); err != nil {
		return err
	}
	if !s.Type.valid() {
		return fmt.Errorf("unknown room type %d", s.Type)
	}
	if !s.Status.valid() {
		return fmt.Errorf("unknown status %d", s.Status)
	}
	if s.Host == "" || s.Creator == "" {
		return fmt.Errorf("no host or no creator")
	}
	if s.Version == 0 {
		return fmt.Errorf("version 0: versions start at 1")
	}
	if s.Updated.IsZero() {
		return fmt.Errorf("no update time")
	}
	if err := checkTimes(s.Start, s.Updated); err != nil {
		return err
	}
	for _, l := range []struct {
		name  string
		n, mx int
	}{{"stage", len(s.Speakers), MaxStage}, {"audience", len(s.Audience), MaxAudience},
		{"raised hands", len(s.Hands), MaxHands}, {"invitations", len(s.Invited), MaxInvited},
		{"ban list", len(s.Banned), MaxBanned}, {"moderators", len(s.Moderators), MaxStage}} {
		if l.n > l.mx {
			return fmt.Errorf("%s has %d entries, limit %d", l.name, l.n, l.mx)
		}
	}
	// Each peer is in the room once: on the stage or in the audience.
	where := make(map[peer.ID]string, len(s.Speakers)+len(s.Audience))
	for _, sp := range s.Speakers {
		if err := place(where, sp.Peer, "stage"); err != nil {
			return err
		}
	}
	for _, p := range s.Audience {
		if err := place(where, p, "audience"); err != nil {
			return err
		}
	}
	if err := subset("moderators", s.Moderators, where, "stage"); err != nil {
		return err
	}
	if !slices.Contains(s.Moderators, s.Host) {
		return fmt.Errorf("host %s is not a moderator", s.Host)
	}
	if err := subset("raised hands", s.Hands, where, "audience"); err != nil {
		return err
	}
	if err := subset("invitations", s.Invited, where, "audience"); err != nil {
		return err
	}
	seen := make(map[peer.ID]bool, len(s.Banned))
	for _, p := range s.Banned {
		if p == "" || seen[p] || where[p] != "" {
			return fmt.Errorf("ban list: %s is empty, listed twice or still in the room", p)
		}
		seen[p] = true
	}
	return nil
}

func place(where map[peer.ID]string, p peer.ID, list string) error {
	if p == "" {
		return fmt.Errorf("%s lists an empty peer ID", list)
	}
	if prev := where[p]; prev != "" {
		return fmt.Errorf("%s is listed twice (%s and %s)", p, prev, list)
	}
	where[p] = list
	return nil
}

// subset checks that ids, without duplicates, are all in list.
func subset(name string, ids []peer.ID, where map[peer.ID]string, list string) error {
	seen := make(map[peer.ID]bool, len(ids))
	for _, p := range ids {
		if seen[p] {
			return fmt.Errorf("%s lists %s twice", name, p)
		}
		seen[p] = true
		if where[p] != list {
			return fmt.Errorf("%s lists %s, who is not in the %s", name, p, list)
		}
	}
	return nil
}

// validateTitle: a title is one line of visible text, since it is shown
// in every member's hallway listing.
func validateTitle(t string) error {
	return safetext.Check("title", t, safetext.Line, MaxTitleLength, true)
}
