package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// toastWith is true when a notice that says text is on screen, visible
// (not a screen-reader-only line) and not styled as an error.
func toastWith(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#toasts .toast')].some((el) => el.textContent.includes(%s)
		&& el.getBoundingClientRect().height > 0 && !el.closest('[role=alert]'))`, sel(text))
}

// checkModerationNotices is issue 12's item 9 in Firefox: what Alice's
// node does to Bob, who is on the stage of room, reaches Bob's screen as a
// notice: muted, moved to the audience, a new host; then removed, from a
// second room.
func checkModerationNotices(t *testing.T, ff *firefox, a, b *uiNode, room string) {
	t.Helper()
	ctx := context.Background()
	idB := b.ID().String()
	act := func(n *uiNode, room, action, peer string) {
		t.Helper()
		if _, err := n.RoomAction(ctx, room, action, apiv1.RoomActionRequest{Peer: peer}); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
	}
	act(a, room, apiv1.ActionMute, idB)
	ff.waitFor(t, "the muted notice", toastWith("A moderator muted you"))
	act(a, room, apiv1.ActionMoveToAudience, idB)
	ff.waitFor(t, "the moved notice", toastWith("A moderator moved you to the audience"))

	// Alice hands the room over by leaving: Bob, a moderator on the
	// stage, is the successor.
	act(a, room, apiv1.ActionInviteSpeaker, idB)
	act(b, room, apiv1.ActionAcceptInvite, "")
	act(a, room, apiv1.ActionMakeModerator, idB)
	ff.waitFor(t, "Bob a moderator", fmt.Sprintf(`window.clubnodeState.rooms.get(%s)?.role === 'moderator'`, sel(room)))
	act(a, room, apiv1.ActionLeave, "")
	ff.waitFor(t, "the new host notice", toastWith("You are now hosting Firefox night"))

	// Removed from another room, while looking at this one.
	other, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Second room"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := b.RoomAction(ctx, other.ID, apiv1.ActionJoin, apiv1.RoomActionRequest{})
		return err
	})
	ff.waitFor(t, "the second room in Bob's page", fmt.Sprintf(`window.clubnodeState.rooms.get(%s)?.role === 'listener'`, sel(other.ID)))
	act(a, other.ID, apiv1.ActionRemove, idB)
	ff.waitFor(t, "the removed notice", toastWith("A moderator removed you from Second room"))
}
