package rooms

import (
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestAllowedAgreesWithApply: for every requester, kind and target in a
// few rooms, Allowed says yes exactly when the host's Apply accepts, so a
// menu built from ActionsFor offers nothing the host refuses and hides
// nothing it would do.
func TestAllowedAgreesWithApply(t *testing.T) {
	c := newCast(t)
	base := c.room(t)
	muted := base.Clone()
	muted.Speakers[3].Muted = true // T
	muted.Hands = []peer.ID{c.id("L")}
	scheduled := base.Clone()
	scheduled.Status = StatusScheduled
	names := []string{"H", "M", "N", "S", "T", "L", "U", "I", "O"}
	adm := Admission{Member: true}
	for label, s := range map[string]State{"base": base, "muted": muted, "scheduled": scheduled} {
		for _, from := range names {
			for k := KindJoin; k < numKinds; k++ {
				for _, target := range append([]string{""}, names...) {
					req := c.req(s, from, k, target)
					if req.Validate() != nil {
						continue
					}
					_, applyErr := Apply(s, req, adm)
					allowErr := Allowed(&s, c.id(from), k, req.Target)
					if (applyErr == nil) != (allowErr == nil) {
						t.Errorf("%s: %s %s %s: Apply says %v, Allowed says %v", label, from, k, target, applyErr, allowErr)
					}
				}
			}
		}
	}
}

func TestActionsFor(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	s.Hands = []peer.ID{c.id("L")}
	m := ActionsFor(&s, c.id("M"))
	if want := []Kind{KindMute, KindStepDown, KindLeave, KindEnd}; !slices.Equal(m.Self, want) {
		t.Errorf("moderator's own actions %v, want %v", m.Self, want)
	}
	for who, want := range map[string][]Kind{
		"H": nil,        // nobody acts on the host
		"N": {KindMute}, // a moderator: only the host moves or removes one
		"S": {KindMute, KindMoveToAudience, KindMakeModerator, KindRemove},
		"L": {KindInviteSpeaker, KindRemove},
		"I": {KindRemove}, // invited already
	} {
		if got := m.Peers[c.id(who)]; !slices.Equal(got, want) {
			t.Errorf("moderator on %s: %v, want %v", who, got, want)
		}
	}
	l := ActionsFor(&s, c.id("L"))
	if want := []Kind{KindLowerHand, KindLeave}; !slices.Equal(l.Self, want) || len(l.Peers) != 0 {
		t.Errorf("listener with a hand up: %v %v, want %v and nothing on others", l.Self, l.Peers, want)
	}
	if o := ActionsFor(&s, c.id("O")); len(o.Self) != 0 {
		t.Errorf("outsider: %v (joining is not a room menu's business)", o.Self)
	}
}

// BenchmarkActionsForFullRoom is a moderator's menus in the largest room.
func BenchmarkActionsForFullRoom(b *testing.B) {
	c := newCast(b)
	s := c.room(b)
	for range MaxAudience - len(s.Audience) {
		_, p := newKey(b)
		s.Audience = append(s.Audience, p)
	}
	b.ResetTimer()
	for range b.N {
		ActionsFor(&s, c.id("H"))
	}
}
