package rooms

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// wantTable is the permission table written out independently of
// Permissions: columns host, moderator, speaker, listener, invited,
// non-participant.
var wantTable = map[Action]string{
	ActJoin:           "-----y",
	ActLeave:          "yyyyy-",
	ActRaiseHand:      "---y--",
	ActLowerHand:      "---y--",
	ActInviteSpeaker:  "yyy---",
	ActAcceptInvite:   "----y-",
	ActDeclineInvite:  "----y-",
	ActMoveToAudience: "yy----",
	ActMuteSelf:       "yyy---",
	ActMuteOther:      "yy----",
	ActUnmuteSelf:     "yyy---",
	ActRemove:         "yy----",
	ActMakeModerator:  "yy----",
	ActStepDown:       "-yy---",
	ActEnd:            "yy----",
}

// requesters plays each role with one member of the cast.
var requesters = map[Role]string{RoleHost: "H", RoleModerator: "M", RoleSpeaker: "S",
	RoleListener: "L", RoleInvited: "I", RoleNonParticipant: "O"}

// cellRequest builds the request for one cell, and adjusts the room so the
// action is meaningful when allowed (a hand to lower, a microphone to mute).
func cellRequest(c *cast, s *State, a Action, from string) Request {
	p := c.id(from)
	switch a {
	case ActLowerHand:
		if slices.Contains(s.Audience, p) {
			s.Hands = append(s.Hands, p)
		}
	case ActMuteSelf, ActUnmuteSelf:
		if i := s.speakerIndex(p); i >= 0 {
			s.Speakers[i].Muted = a == ActUnmuteSelf
		}
	}
	kinds := map[Action]Kind{ActJoin: KindJoin, ActLeave: KindLeave, ActRaiseHand: KindRaiseHand,
		ActLowerHand: KindLowerHand, ActInviteSpeaker: KindInviteSpeaker, ActAcceptInvite: KindAcceptInvite,
		ActDeclineInvite: KindDeclineInvite, ActMoveToAudience: KindMoveToAudience, ActMuteSelf: KindMute,
		ActMuteOther: KindMute, ActUnmuteSelf: KindUnmuteSelf, ActRemove: KindRemove,
		ActMakeModerator: KindMakeModerator, ActStepDown: KindStepDown, ActEnd: KindEnd}
	targets := map[Action]string{ActInviteSpeaker: "U", ActMoveToAudience: "T", ActMuteOther: "T",
		ActRemove: "U", ActMakeModerator: "T"}
	r := c.req(*s, from, kinds[a], targets[a])
	if r.Action() != a {
		panic("cell request for " + a.String() + " is " + r.Action().String())
	}
	return r
}

func TestPermissionTableEveryCell(t *testing.T) {
	c := newCast(t)
	table := Permissions()
	if len(wantTable) != int(numActions) || len(Actions()) != int(numActions) || len(Roles()) != int(numRoles) {
		t.Fatalf("the table has %d actions and %d roles; the test knows %d actions", numActions, numRoles, len(wantTable))
	}
	for _, a := range Actions() {
		for col, role := range Roles() {
			want := wantTable[a][col] == 'y'
			t.Run(a.String()+"/"+role.String(), func(t *testing.T) {
				if got := table.Allowed(role, a); got != want {
					t.Fatalf("table says %v, want %v", got, want)
				}
				s := c.room(t)
				from := requesters[role]
				r := cellRequest(c, &s, a, from)
				if got := s.RoleOf(r.From); got != role {
					t.Fatalf("%s plays %s, want %s", from, got, role)
				}
				before := s.Clone()
				next, err := Apply(s, r, member)
				mustEqual(t, "state given to Apply", s, before)
				if !want {
					wantErr(t, err, ErrNotAllowed)
					return
				}
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				wantVersion := s.Version + 1
				if next.Host != s.Host { // the host left: a takeover
					wantVersion = s.Version + (MaxStage-uint64(slices.Index(Successors(s), next.Host)))*takeoverStep
				}
				if next.Version != wantVersion {
					t.Fatalf("version %d after %d, want %d", next.Version, s.Version, wantVersion)
				}
				if err := next.Validate(); err != nil {
					t.Fatalf("invalid next state: %v", err)
				}
			})
		}
	}
}

// The table in Permissions' doc comment is the table the code uses.
func TestPermissionsDocComment(t *testing.T) {
	src, err := os.ReadFile("permissions.go")
	if err != nil {
		t.Fatal(err)
	}
	table := Permissions()
	for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
		if !strings.Contains(string(src), "//\t"+line+"\n") {
			t.Errorf("doc comment lacks the line %q", line)
		}
	}
}

func TestRefusalsSayWhy(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	banned := mustApply(t, s, c.req(s, "H", KindRemove, "U"), member)
	for _, tc := range []struct {
		name  string
		s     State
		r     Request
		wants []error
		text  string
	}{
		{"listener removes", s, c.req(s, "L", KindRemove, "U"), []error{ErrNotAllowed},
			"only the host or a moderator can remove someone, and " + c.id("L").String() + " is a listener"},
		{"listener invites", s, c.req(s, "L", KindInviteSpeaker, "U"), []error{ErrNotAllowed},
			"only the host, a moderator or a speaker can invite someone to speak"},
		{"speaker mutes another", s, c.req(s, "S", KindMute, "T"), []error{ErrNotAllowed},
			"only the host or a moderator can mute someone else"},
		{"host steps down", s, c.req(s, "H", KindStepDown, ""), []error{ErrNotAllowed},
			"only a moderator or a speaker can step down from the stage"},
		{"outsider raises hand", s, c.req(s, "O", KindRaiseHand, ""), []error{ErrNotAllowed, ErrNotInRoom},
			c.id("O").String()},
		{"member joins twice", s, c.req(s, "L", KindJoin, ""), []error{ErrNotAllowed}, "already in the room"},
		{"banned raises hand", banned, c.req(banned, "U", KindRaiseHand, ""), []error{ErrNotAllowed, ErrBanned}, "banned from this room"},
		{"banned joins", banned, c.req(banned, "U", KindJoin, ""), []error{ErrBanned}, "banned from this room"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(tc.s, tc.r, member)
			wantErr(t, err, tc.wants...)
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not say %q", err, tc.text)
			}
		})
	}
}
