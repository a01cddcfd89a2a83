package node

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/clubnode/clubnode/node/apiv1"
)

// holdHallwayFetch makes the page's next GET /api/v1/rooms wait, with
// its answer already read, until window.__hallwayHeld.release() is
// called; window.__hallwayHeld.applied turns true once whatever the page
// does with that answer has run (a task after its JSON was handed over).
const holdHallwayFetch = `(() => {
  const orig = window.fetch.bind(window);
  const held = { answered: false, applied: false };
  const gate = new Promise((resolve) => { held.release = resolve; });
  window.__hallwayHeld = held;
  window.fetch = async (url, opts) => {
    const isHallway = String(url).endsWith('/api/v1/rooms') && (!opts || !opts.method || opts.method === 'GET');
    if (!isHallway) return orig(url, opts);
    window.fetch = orig; // hold this one only
    const resp = await orig(url, opts);
    await resp.clone().text();
    held.answered = true;
    await gate;
    const json = resp.json.bind(resp);
    resp.json = async () => {
      const v = await json();
      setTimeout(() => { held.applied = true; }, 0);
      return v;
    };
    return resp;
  };
  return true;
})()`

// The hallway view fetches the hallway once as it opens, so its first
// paint need not wait for the event stream. On a busy machine that
// answer came after the stream had brought a newer hallway, and replaced
// it; the stream sends only what changed, so the page showed "No live
// rooms" while the node listed the room (TestWebUIFirefox in CI). Here
// the view's fetch is answered before Alice opens a room and held until
// the stream has shown the room; let through then, it must not hide it.
func TestWebUIHallwayKeepsWhatTheStreamBrought(t *testing.T) {
	checkLeaks(t)
	ctx, browser, a, b := browserWithTwoMembers(t)
	tab := newTab(t, browser, 1024, 700)
	do(t, tab, "Bob signs in", chromedp.Navigate(b.loginURL(t)))
	waitFor(t, tab, "Bob's hallway", contains(textOf("h1"), "Hallway"))
	do(t, tab, "Bob opens the settings", chromedp.Click(chromedp.CSS(`#nav a[data-route="settings"]`)))
	waitFor(t, tab, "the settings", `!document.querySelector('#live-rooms')`)
	if !eval[bool](t, tab, holdHallwayFetch) {
		t.Fatal("the fetch hook was not installed")
	}
	do(t, tab, "Bob goes back to the hallway", chromedp.Click(chromedp.CSS(`#nav a[data-route="hallway"]`)))
	waitFor(t, tab, "the hallway's own fetch answered (and held)", `window.__hallwayHeld.answered`)

	room, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Late answer", Type: "open"})
	if err != nil {
		t.Fatal(err)
	}
	card := fmt.Sprintf(`#live-rooms a[data-room=%s]`, sel(room.ID))
	waitFor(t, tab, "the room, from the event stream", fmt.Sprintf(`!!document.querySelector(%s)`, sel(card)))
	eval[bool](t, tab, `(window.__hallwayHeld.release(), true)`)
	waitFor(t, tab, "the held answer handled", `window.__hallwayHeld.applied`)
	if !eval[bool](t, tab, fmt.Sprintf(`!!document.querySelector(%s)`, sel(card))) {
		t.Fatalf("the hallway's older answer hid the room the stream had brought: %q", eval[string](t, tab, textOf("main")))
	}
}
