package node

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// TestWebUIShowsLinkPaths: the room view says how this node's audio
// links are carried, from what `room show --json` gives: the listener's
// tab names the path from its parent and its round trip, the host's
// counts its children by path. The two nodes share loopback: direct.
func TestWebUIShowsLinkPaths(t *testing.T) {
	checkLeaks(t)
	ctx, browser, a, b := browserWithTwoMembers(t)
	room, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Links", Type: "open"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error { // once the room is in Bob's hallway
		_, err := b.RoomAction(ctx, room.ID, apiv1.ActionJoin, apiv1.RoomActionRequest{})
		return err
	})
	for _, c := range []struct {
		who  string
		node *uiNode
		want string // JavaScript that holds once the line is right
	}{
		{"the listener", b, `[...document.querySelectorAll('#room-links .link[data-path="direct"]')].some((e) => / \d+ ms$/.test(e.innerText))`},
		{"the host", a, contains(textOf("#room-links"), "passing it on to 1 listener (1 direct)")},
	} {
		tab := newTab(t, browser, 1024, 700)
		do(t, tab, c.who+" signs in", chromedp.Navigate(c.node.loginURL(t)))
		waitFor(t, tab, c.who+"'s hallway", contains(textOf("h1"), "Hallway"))
		do(t, tab, c.who+" opens the room", chromedp.Navigate(c.node.url+"/#/room/"+room.ID))
		waitFor(t, tab, c.who+"'s link line", c.want)
		t.Logf("%s's tab: %q", c.who, eval[string](t, tab, textOf("#room-links")))
	}
}
