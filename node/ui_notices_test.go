package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	ff.waitFor(t, "the second room in Bob's hallway", fmt.Sprintf(`window.clubnodeState.hallway.some((r) => r.id === %s)`, sel(other.ID)))
	checkHeldBackSound(t, ff, other.ID, func() { switchRoomFromStage(t, ff, a, room, other.ID) })
	act(a, other.ID, apiv1.ActionRemove, idB)
	ff.waitFor(t, "the removed notice", toastWith("A moderator removed you from Second room"))
}

// checkHeldBackSound is issue 12's item 10: when the browser will not play
// a room's sound before a click (here: play() refuses, as under an
// autoplay policy), the room says so calmly, keeps saying so once the
// connection is up (it said "Listening" under a red error before), and
// the notice goes once the sound plays.
func checkHeldBackSound(t *testing.T, ff *firefox, room string, enter func()) {
	t.Helper()
	ff.eval(t, `(() => { const real = HTMLMediaElement.prototype.play;
		HTMLMediaElement.prototype.play = function () { return Promise.reject(new DOMException('held back', 'NotAllowedError')); };
		window.__releasePlay = () => { HTMLMediaElement.prototype.play = real; }; return true; })()`, new(bool))
	enter()
	ff.waitFor(t, "the held-back notice, connected", `document.querySelector('#audio-status')?.dataset.listen === 'blocked'
		&& document.querySelector('#play-sound') && window.clubnodeMetrics.listenConnection === 'connected'`)
	var state struct {
		Status string `json:"status"`
		Alerts int    `json:"alerts"`
	}
	ff.eval(t, `({status: document.querySelector('#audio-status').textContent, alerts: document.querySelectorAll('#alerts .alert').length})`, &state)
	if !strings.Contains(state.Status, "holding the sound back") || strings.Contains(state.Status, "Listening") || state.Alerts != 0 {
		t.Errorf("sound held back, connected: status %q and %d error(s); want the notice alone, no error", state.Status, state.Alerts)
	}
	ff.do(t, "B clicks Play sound", func(ctx context.Context) error {
		if err := ff.Eval(ctx, `window.__releasePlay()`, nil); err != nil {
			return err
		}
		return ff.Click(ctx, "#play-sound")
	})
	ff.waitFor(t, "the sound playing, the notice gone", `document.querySelector('#audio-status').dataset.listen === 'on'
		&& !document.querySelector('#play-sound') && document.querySelector('#audio-status').textContent.startsWith('Listening')`)
}

// checkBarMute: away from the room with the microphone live, the now-in
// bar has a Mute button; it silences B, and A's stage shows B muted.
func checkBarMute(t *testing.T, tabA, tabB context.Context, idB string) {
	t.Helper()
	waitFor(t, tabB, "the bar's mute button", contains(textOf("#now-in"), "microphone live")+` && document.querySelector('#now-in-mute')`)
	do(t, tabB, "B mutes from the bar", chromedp.Click(chromedp.CSS("#now-in-mute")))
	waitFor(t, tabB, "the bar says muted", contains(textOf("#now-in"), "On stage (muted)")+` && !document.querySelector('#now-in-mute')`)
	waitFor(t, tabA, "B muted on A's stage", fmt.Sprintf(`document.querySelector(%s)`, sel(fmt.Sprintf(`#stage [data-peer=%s] .badge.muted`, sel(idB)))))
	if n := eval[int](t, tabB, `document.querySelectorAll('#toasts .toast').length`); n != 0 {
		t.Errorf("B's own mute came with %d notice(s) of a moderator's doing", n)
	}
}

// checkSettingsSources: Settings say what is in effect and where it comes
// from, and claim no save before one (issue 12, item 11). B's test node
// runs with the default relay capacity and an API address of its own.
func checkSettingsSources(t *testing.T, tabB context.Context) {
	t.Helper()
	waitFor(t, tabB, "the settings' sources", contains(textOf("#relay-in-effect"), "In effect now: 4, the default")+` && `+
		contains(textOf("#api-in-effect"), "command line (--api)"))
	if status := eval[string](t, tabB, textOf("#settings-status")); strings.Contains(status, "Saved") || strings.Contains(status, "Restart") {
		t.Errorf("Settings before any save: %q", status)
	}
}

// switchRoomFromStage is issue 12's item 6 in the web app: Bob, host of
// room, opens another room and joins it; the app asks first, because he
// leaves a stage, and after he says yes he is in the other room alone.
func switchRoomFromStage(t *testing.T, ff *firefox, a *uiNode, room, other string) {
	t.Helper()
	ff.do(t, "B opens the second room", func(ctx context.Context) error {
		return ff.Eval(ctx, fmt.Sprintf(`location.hash = '#/room/' + encodeURIComponent(%s)`, sel(other)), nil)
	})
	ff.waitFor(t, "the join button", `document.querySelector('#join-room')`)
	ff.do(t, "B joins the second room", func(ctx context.Context) error { return ff.Click(ctx, "#join-room") })
	ff.waitFor(t, "the question", `document.querySelector('#switch-dialog')?.open && `+contains(textOf("#switch-heading"), "Firefox night"))
	ff.do(t, "B says yes", func(ctx context.Context) error { return ff.Click(ctx, "#confirm-switch") })
	ff.waitFor(t, "B in the second room", fmt.Sprintf(`window.clubnodeState.rooms.get(%s)?.role === 'listener'`, sel(other)))
	testutil.Eventually(t, 10*time.Second, func() error {
		if st, err := a.Room(context.Background(), room); err == nil && st.Status != "ended" {
			return fmt.Errorf("the room B hosted is %s after B joined another", st.Status)
		}
		return nil
	})
	var toasts []string
	ff.eval(t, `[...document.querySelectorAll('#toasts .toast p')].map((p) => p.textContent)`, &toasts)
	for _, m := range toasts {
		if strings.Contains(m, "Firefox night has ended") || strings.Contains(m, "no longer in") {
			t.Errorf("B's own switch came with the notice %q", m)
		}
	}
}

// checkSoundAfterRestart is issue 12's item 3: Bob's daemon restarts
// under his open room; the page says it is reconnecting, and the sound
// comes back by itself.
func checkSoundAfterRestart(t *testing.T, ff *firefox, b *uiNode) *uiNode {
	t.Helper()
	var before int
	ff.eval(t, `window.clubnodeMetrics.listenConnects || 0`, &before)
	began := time.Now()
	b = restartUINode(t, b)
	ff.waitFor(t, "the page reconnecting", `document.querySelector('#audio-status')?.dataset.listen === 'reconnecting'
		|| (window.clubnodeMetrics.listenConnects || 0) > `+fmt.Sprint(before))
	ff.waitFor(t, "the sound back", `document.querySelector('#audio-status')?.dataset.listen === 'on'
		&& window.clubnodeMetrics.listenConnection === 'connected' && window.clubnodeMetrics.listenConnects > `+fmt.Sprint(before))
	t.Logf("from the daemon's restart to the room's sound in Firefox again: %s", time.Since(began).Round(time.Millisecond))
	return b
}

// checkHallwayFinding is issue 16's finding rooms in the hallway: the live
// room's card shows its speakers' faces; the search finds rooms by title
// and host; the type filter hides the rooms of other types.
func checkHallwayFinding(t *testing.T, tabB context.Context, card string) {
	t.Helper()
	waitFor(t, tabB, "the speakers' faces on the card", fmt.Sprintf(`document.querySelector(%s)`, sel(card+" .avatars .avatar")))
	set := func(field, value, event string) {
		t.Helper()
		eval[bool](t, tabB, fmt.Sprintf(`(() => { const el = document.querySelector(%s); el.value = %s;
			return el.dispatchEvent(new Event(%s)); })()`, sel(field), sel(value), sel(event)))
	}
	set("#hallway-search", "release", "input")
	waitFor(t, tabB, "the rooms for a title", fmt.Sprintf(`!document.querySelector(%s) && `, sel(card))+contains(textOf("#scheduled-rooms"), "release party"))
	set("#hallway-search", "alice late", "input")
	waitFor(t, tabB, "the rooms for a host and a word", fmt.Sprintf(`document.querySelector(%s) && !`, sel(card))+contains(textOf("#scheduled-rooms"), "release party"))
	set("#hallway-search", "", "input")
	set("#hallway-type", "closed", "change")
	waitFor(t, tabB, "no closed rooms", fmt.Sprintf(`!document.querySelector(%s)`, sel(card)))
	set("#hallway-type", "", "change")
	waitFor(t, tabB, "the room back", fmt.Sprintf(`document.querySelector(%s)`, sel(card)))
}

// checkRoomLink: the room's shared link, pasted into the hallway's search
// of another member's app, opens the room there.
func checkRoomLink(t *testing.T, tabA, tabB context.Context, roomID string) {
	t.Helper()
	waitFor(t, tabA, "the room's share button", `document.querySelector('#share-room')?.dataset.link`)
	link := eval[string](t, tabA, `document.querySelector('#share-room').dataset.link`)
	if !strings.HasSuffix(link, "/#/room/"+roomID) {
		t.Errorf("room link %q", link)
	}
	eval[bool](t, tabB, fmt.Sprintf(`(() => { const el = document.querySelector('#hallway-search'); el.value = %s;
		return el.dispatchEvent(new Event('input')); })()`, sel("look: "+link)))
	waitFor(t, tabB, "the shared room open", fmt.Sprintf(`decodeURIComponent(location.hash) === %s`, sel("#/room/"+roomID)))
	eval[bool](t, tabB, `(location.hash = '#/', true)`)
	waitFor(t, tabB, "B's hallway again", contains(textOf("h1"), "Hallway"))
}

// enableNotifications: Bob turns on notifications in Settings (the test
// profile grants the permission) and follows Alice; back to the hallway.
func enableNotifications(t *testing.T, ff *firefox, b, a *uiNode) {
	t.Helper()
	ff.do(t, "B opens the settings", func(ctx context.Context) error { return ff.Click(ctx, `#nav a[data-route="settings"]`) })
	ff.waitFor(t, "the notifications switch", `document.querySelector('#notifications')`)
	ff.do(t, "B turns notifications on", func(ctx context.Context) error { return ff.Click(ctx, "#notifications") })
	ff.waitFor(t, "notifications on", contains(textOf("#notifications-status"), "Notifications on")+` && Notification.permission === 'granted'`)
	if _, err := b.Follow(context.Background(), apiv1.FollowRequest{Peer: a.ID().String(), On: true}); err != nil {
		t.Fatal(err)
	}
	ff.do(t, "B goes to the hallway", func(ctx context.Context) error { return ff.Click(ctx, `#nav a[data-route="hallway"]`) })
	ff.waitFor(t, "B's hallway", contains(textOf("h1"), "Hallway"))
}

// checkRemindAndCalendar: on a scheduled room's card, "Remind me" sets a
// reminder on B's node, and the calendar file has the room's start.
func checkRemindAndCalendar(t *testing.T, tabB context.Context, b *uiNode, room apiv1.RoomState) {
	t.Helper()
	button := fmt.Sprintf(`[data-remind=%s]`, sel(room.ID))
	waitFor(t, tabB, "Remind me", fmt.Sprintf(`document.querySelector(%s)`, sel(button))+` && `+contains(textOf(button), "Remind me"))
	do(t, tabB, "B asks for a reminder", clickNow(button))
	waitFor(t, tabB, "the reminder set", fmt.Sprintf(`document.querySelector(%s).getAttribute('aria-pressed') === 'true'`, sel(button)))
	if !b.reminders(context.Background())[room.ID] {
		t.Error("B's node has no reminder of the room")
	}
	ics := eval[string](t, tabB, fmt.Sprintf(`decodeURIComponent(document.querySelector(%s).href.split(',')[1])`, sel(fmt.Sprintf(`[data-ics=%s]`, sel(room.ID)))))
	start := room.Start.UTC().Format("20060102T150405Z")
	if !strings.Contains(ics, "BEGIN:VEVENT") || !strings.Contains(ics, "DTSTART:"+start) || !strings.Contains(ics, "SUMMARY:"+room.Title) {
		t.Errorf("the calendar file, want DTSTART:%s:\n%s", start, ics)
	}
}

// carolSupport is Carol's support link in the Chromium walk.
const carolSupport = "https://tips.example/carol"

// checkSupportButton: a member's support link shows on their profile as
// a button that opens outside the app, with no way back to it.
func checkSupportButton(t *testing.T, tab context.Context, carol string) {
	t.Helper()
	eval[bool](t, tab, fmt.Sprintf(`(location.hash = '#/profile/' + encodeURIComponent(%s), true)`, sel(carol)))
	waitFor(t, tab, "Carol's support button", `document.querySelector('#support-link')?.textContent === 'Support Carol'`)
	got := eval[[]string](t, tab, `['href', 'target', 'rel'].map((a) => document.querySelector('#support-link').getAttribute(a))`)
	if got[0] != carolSupport || got[1] != "_blank" || !strings.Contains(got[2], "noopener") || !strings.Contains(got[2], "noreferrer") {
		t.Errorf("the support button: href, target, rel = %q", got)
	}
}
