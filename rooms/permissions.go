package rooms

import (
	"fmt"
	"strings"
)

// Action is a column key of the permission table: a request kind, with
// muting split in two because muting oneself and muting someone else are
// different powers.
type Action uint8

const (
	ActJoin Action = iota
	ActLeave
	ActRaiseHand
	ActLowerHand
	ActInviteSpeaker
	ActAcceptInvite
	ActDeclineInvite
	ActMoveToAudience
	ActMuteSelf
	ActMuteOther
	ActUnmuteSelf
	ActRemove
	ActMakeModerator
	ActStepDown
	ActEnd
	numActions
)

var actionNames = [numActions]string{"join", "leave", "raise-hand", "lower-hand", "invite-speaker",
	"accept-invite", "decline-invite", "move-to-audience", "mute-self", "mute-other", "unmute-self",
	"remove", "make-moderator", "step-down", "end"}

// actionPhrases complete "only ... can ___" in refusals.
var actionPhrases = [numActions]string{"join", "leave", "raise a hand", "lower a hand",
	"invite someone to speak", "accept an invitation to speak", "decline an invitation to speak",
	"move someone to the audience", "mute themselves", "mute someone else", "unmute themselves",
	"remove someone", "make someone a moderator", "step down from the stage", "end the room"}

// rolePhrases name a role in a refusal.
var rolePhrases = [numRoles]string{"the host", "a moderator", "a speaker", "a listener",
	"someone invited to speak", "someone outside the room"}

func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Actions lists every action in the order of the permission table's rows.
func Actions() []Action {
	out := make([]Action, numActions)
	for i := range out {
		out[i] = Action(i)
	}
	return out
}

// Action is the permission-table action a request asks for.
func (r *Request) Action() Action {
	switch r.Kind {
	case KindJoin:
		return ActJoin
	case KindLeave:
		return ActLeave
	case KindRaiseHand:
		return ActRaiseHand
	case KindLowerHand:
		return ActLowerHand
	case KindInviteSpeaker:
		return ActInviteSpeaker
	case KindAcceptInvite:
		return ActAcceptInvite
	case KindDeclineInvite:
		return ActDeclineInvite
	case KindMoveToAudience:
		return ActMoveToAudience
	case KindMute:
		if r.Target == "" || r.Target == r.From {
			return ActMuteSelf
		}
		return ActMuteOther
	case KindUnmuteSelf:
		return ActUnmuteSelf
	case KindRemove:
		return ActRemove
	case KindMakeModerator:
		return ActMakeModerator
	case KindStepDown:
		return ActStepDown
	case KindEnd:
		return ActEnd
	}
	return numActions
}

// Table says, for each action and role of the requester, whether the
// action is allowed. Apply consults it first; the rules about the target
// (below) come after it.
type Table [numActions][numRoles]bool

// Permissions is THE permission table of clubnode rooms. A request is
// allowed only if its cell says yes:
//
//	action            host  moderator  speaker  listener  invited  non-participant
//	join              -     -          -        -         -        yes
//	leave             yes   yes        yes      yes       yes      -
//	raise-hand        -     -          -        yes       -        -
//	lower-hand        -     -          -        yes       -        -
//	invite-speaker    yes   yes        yes      -         -        -
//	accept-invite     -     -          -        -         yes      -
//	decline-invite    -     -          -        -         yes      -
//	move-to-audience  yes   yes        -        -         -        -
//	mute-self         yes   yes        yes      -         -        -
//	mute-other        yes   yes        -        -         -        -
//	unmute-self       yes   yes        yes      -         -        -
//	remove            yes   yes        -        -         -        -
//	make-moderator    yes   yes        -        -         -        -
//	step-down         -     yes        yes      -         -        -
//	end               yes   yes        -        -         -        -
//
// Roles: the host is a moderator too, but has its own column because it
// outranks them; "invited" is a listener invited to speak, who answers the
// invitation before doing anything else listeners do; a banned peer is a
// non-participant. Then the rules about the target:
//
//   - nobody acts on the host (remove, move to audience, mute it); only the
//     host acts on a moderator with remove or move-to-audience;
//   - invite-speaker: the target is a listener not yet invited; a speaker
//     may invite too, because the invitee still has to accept and any
//     moderator can move them back to the audience;
//   - move-to-audience and step-down take a moderator's role away with the
//     stage, because moderators are on the stage;
//   - mute-other and make-moderator: the target is on the stage;
//   - remove: the target is in the room; it is kicked and banned for the
//     life of the room;
//   - a host that leaves hands the room to Successor, or ends it if there
//     is none; it cannot step down (it would be a host off the stage).
//
// Speakers may unmute themselves after a moderator muted them (the mute is a
// moderator's "quiet please", not a gag); a moderator who insists moves them
// to the audience.
func Permissions() Table {
	const (
		h = 1 << RoleHost
		m = 1 << RoleModerator
		s = 1 << RoleSpeaker
		l = 1 << RoleListener
		i = 1 << RoleInvited
		n = 1 << RoleNonParticipant
	)
	rows := [numActions]uint8{
		ActJoin:           n,
		ActLeave:          h | m | s | l | i,
		ActRaiseHand:      l,
		ActLowerHand:      l,
		ActInviteSpeaker:  h | m | s,
		ActAcceptInvite:   i,
		ActDeclineInvite:  i,
		ActMoveToAudience: h | m,
		ActMuteSelf:       h | m | s,
		ActMuteOther:      h | m,
		ActUnmuteSelf:     h | m | s,
		ActRemove:         h | m,
		ActMakeModerator:  h | m,
		ActStepDown:       m | s,
		ActEnd:            h | m,
	}
	var t Table
	for a, bits := range rows {
		for r := range numRoles {
			t[a][r] = bits&(1<<r) != 0
		}
	}
	return t
}

// Allowed reports whether role may do action.
func (t Table) Allowed(role Role, action Action) bool {
	return role < numRoles && action < numActions && t[action][role]
}

// String prints the table as it appears in Permissions' comment, for the
// CLI and notes.
func (t Table) String() string {
	var b strings.Builder
	row := func(cells ...string) {
		widths := []int{18, 6, 11, 9, 10, 9, 0}
		for i, c := range cells {
			if i < len(cells)-1 {
				fmt.Fprintf(&b, "%-*s", widths[i], c)
			} else {
				b.WriteString(c)
			}
		}
		b.WriteByte('\n')
	}
	head := []string{"action"}
	for _, r := range Roles() {
		head = append(head, r.String())
	}
	row(head...)
	for _, a := range Actions() {
		cells := []string{a.String()}
		for _, r := range Roles() {
			cells = append(cells, map[bool]string{true: "yes", false: "-"}[t.Allowed(r, a)])
		}
		row(cells...)
	}
	return b.String()
}

// refusal says why role may not do action, naming who may.
func (t Table) refusal(who fmt.Stringer, role Role, action Action) error {
	var may []string
	for _, r := range Roles() {
		if t.Allowed(r, action) {
			may = append(may, rolePhrases[r])
		}
	}
	list := strings.Join(may, ", ")
	if k := len(may); k > 1 {
		list = strings.Join(may[:k-1], ", ") + " or " + may[k-1]
	}
	return fmt.Errorf("%w: only %s can %s, and %s is %s", ErrNotAllowed, list, actionPhrases[action], who, rolePhrases[role])
}
