package node

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// TestWebUITwoNodes is issue 5's walk through the app in real Chromium:
// B joins A's network with A's invite link; A starts a room; B sees it
// live in the hallway, opens it with the keyboard, joins and raises a
// hand; A invites B to speak; B accepts, unmutes and speaks through the
// fake microphone; the speaking ring lights for the talker only.
func TestWebUITwoNodes(t *testing.T) {
	checkLeaks(t)
	began := time.Now()
	// Both tabs' fake microphone plays this speech, looped.
	wav, voice := writeSpeechWAV(t, voiceLoop, 5)
	browser := startBrowser(t, wav)
	w := &walk{t: t, ctx: context.Background(), shots: screenshotDir(t), voice: voice, cli: buildCLI(t)}
	w.a, w.b = startUINode(t, "Alice"), startUINode(t, "Bob")
	w.tabA = newTab(t, browser, 1280, 820)
	w.tabB = newTab(t, browser, 1280, 820)
	w.idA, w.idB = w.a.ID().String(), w.b.ID().String()

	w.joinWithInvite(w.signInAndInvite())
	w.voiceProcessingOffForB()
	w.startRoom()
	w.roomInHallway(w.carolComes())
	w.joinAndAskToSpeak()
	record := w.speakAndRecord()
	w.checkMenu()
	w.checkRecording(record)
	w.phoneAndSettings()
	checkBarMute(t, w.tabA, w.tabB, w.idB)

	// From the settings, B leaves the room through the bar: B's sound
	// stops, and A's stage no longer has B.
	do(t, w.tabB, "B leaves through the bar", chromedp.Click(chromedp.CSS("#now-in-leave")))
	waitFor(t, w.tabB, "the bar gone and B's sound off", `document.querySelector('#now-in').hidden && !window.clubnodeState.sound`)
	waitFor(t, w.tabA, "B off A's stage", fmt.Sprintf(`!document.querySelector(%s) && !`, sel(w.onStageB))+contains(textOf("#audience"), "Bob"))

	checkSupportButton(t, w.tabA, w.c.ID().String())
	checkNoPageErrors(t, w.tabA, "A")
	checkNoPageErrors(t, w.tabB, "B")
	t.Logf("screenshots in %s; the whole walk took %s", w.shots, time.Since(began).Round(time.Millisecond))
}

// walk is TestWebUITwoNodes's people and what the walk has made so far.
type walk struct {
	t          *testing.T
	ctx        context.Context
	shots      string
	voice      []int16 // what both fake microphones play, looped
	cli        string  // the clubnode binary
	a, b, c    *uiNode // Alice and Bob, with browsers; Carol, without
	tabA, tabB context.Context
	idA, idB   string
	roomID     string // the room A starts
	onStageB   string // the selector of B's place on the stage
}

// signInAndInvite: A signs in, founds a network on first run and makes an invite on the
// profile page: token, link and QR code. It returns the token.
func (w *walk) signInAndInvite() string {
	t := w.t
	t.Helper()
	// A signs in with a one-time link and founds a network on first run.
	do(t, w.tabA, "A signs in", chromedp.Navigate(w.a.loginURL(t)))
	waitFor(t, w.tabA, "A's first-run view", `document.querySelector('#found-button')`)
	checkAccessibleNames(t, w.tabA, "first run")
	screenshot(t, w.tabA, w.shots, "first-run.png")
	// The name is outside both forms: a blank one is refused in the page.
	do(t, w.tabA, "A tries a blank name",
		chromedp.SetValue(chromedp.CSS("#me-name"), "   "),
		chromedp.SetValue(chromedp.CSS("#network-name"), "Night Owls"),
		chromedp.Click(chromedp.CSS("#found-button")))
	waitFor(t, w.tabA, "the blank name refused", contains(textOf(".form-error"), "Give your name first"))
	do(t, w.tabA, "A founds a network",
		chromedp.SetValue(chromedp.CSS("#me-name"), "Alice"),
		chromedp.SetValue(chromedp.CSS("#network-name"), "Night Owls"),
		chromedp.Click(chromedp.CSS("#found-button")))
	waitFor(t, w.tabA, "A's hallway", contains(textOf("h1"), "Hallway"))

	// A makes an invite on the profile page: token, link and QR code.
	do(t, w.tabA, "A opens the profile", chromedp.Click(chromedp.CSS(`#nav a[data-route="profile"]`)))
	do(t, w.tabA, "A creates an invite", chromedp.Click(chromedp.CSS("#create-invite")))
	waitFor(t, w.tabA, "the invite", `document.querySelector('#invite-token-out')?.value.startsWith('clubnode:')`)
	token := eval[string](t, w.tabA, `document.querySelector('#invite-token-out').value`)
	link := eval[string](t, w.tabA, `document.querySelector('#invite-link').href`)
	if want := w.a.url + "/#/join/" + token; link != want {
		t.Errorf("invite link %q, want %q: this app's address, the token in the fragment", link, want)
	}
	checkInviteQR(t, w.tabA, token)
	checkAccessibleNames(t, w.tabA, "profile")
	screenshotOf(t, w.tabA, w.shots, "invite.png", `form[aria-labelledby="invite-heading"]`)
	return token
}

// joinWithInvite: B opens A's invite link, signs in and joins.
func (w *walk) joinWithInvite(token string) {
	t := w.t
	t.Helper()
	// B opens A's invite link (at B's own node's port: the fragment works
	// in any app) before signing in: the app keeps the token through
	// sign-in, offers it in the join form and says what it is.
	inviteOnB := w.b.url + "/#/join/" + url.PathEscape(token)
	do(t, w.tabB, "B opens the invite link", chromedp.Navigate(inviteOnB))
	waitFor(t, w.tabB, "the sign-in view", contains(textOf("main"), "clubnode ui"))
	screenshot(t, w.tabB, w.shots, "invitee-1-link.png")
	do(t, w.tabB, "B signs in", chromedp.Navigate(w.b.loginURL(t)))
	waitFor(t, w.tabB, "B's join form with the invite", `document.querySelector('#invite-token')?.value === `+sel(token))
	waitFor(t, w.tabB, "who invites B to which network", contains(textOf("#invite-preview"), "Alice invites you to Night Owls")+
		` && `+contains(textOf("#invite-preview"), "It lets one person in"))
	do(t, w.tabB, "B gives a name", chromedp.SetValue(chromedp.CSS("#me-name"), "Bob"))
	screenshot(t, w.tabB, w.shots, "invitee-2-preview.png")
	do(t, w.tabB, "B joins", chromedp.Click(chromedp.CSS("#join-button")))
	waitFor(t, w.tabB, "B's hallway", contains(textOf("h1"), "Hallway"))
	screenshot(t, w.tabB, w.shots, "invitee-3-joined.png")
}

// voiceProcessingOffForB: B turns voice processing off in Settings.
func (w *walk) voiceProcessingOffForB() {
	t := w.t
	t.Helper()
	// B wears a headset: voice processing off in Settings, so what B's
	// microphone hears reaches the room as it is (and Carol's recording
	// can be compared with the file).
	do(t, w.tabB, "B opens the settings", chromedp.Click(chromedp.CSS(`#nav a[data-route="settings"]`)))
	waitFor(t, w.tabB, "the voice processing switch", `document.querySelector('#voice-processing')?.checked`)
	do(t, w.tabB, "B turns voice processing off", chromedp.Click(chromedp.CSS("#voice-processing")))
	waitFor(t, w.tabB, "voice processing off", `localStorage.getItem('clubnode.voiceProcessing') === 'off'`)
	do(t, w.tabB, "B goes to the hallway", chromedp.Click(chromedp.CSS(`#nav a[data-route="hallway"]`)))
	waitFor(t, w.tabB, "B's hallway again", contains(textOf("h1"), "Hallway"))
}

// startRoom: A starts a room now and unmutes.
func (w *walk) startRoom() {
	t := w.t
	t.Helper()
	// A starts a room now and unmutes: A's fake microphone is A's voice.
	do(t, w.tabA, "A goes to the hallway", chromedp.Click(chromedp.CSS(`#nav a[data-route="hallway"]`)))
	do(t, w.tabA, "A starts a room",
		chromedp.SetValue(chromedp.CSS("#room-title"), "Late-night Go"),
		chromedp.Click(chromedp.CSS("#start-room")))
	waitFor(t, w.tabA, "A's room", contains(textOf("#room-heading"), "Late-night Go")+` && `+contains(textOf(".room-meta"), "You are the host"))
	w.roomID = strings.TrimPrefix(eval[string](t, w.tabA, `decodeURIComponent(location.hash)`), "#/room/")
	do(t, w.tabA, "A unmutes", chromedp.Click(chromedp.CSS("#mic-button")))
	waitFor(t, w.tabA, "A unmuted", fmt.Sprintf(`!document.querySelector('#stage [data-peer=%s] .badge.muted')`, sel(w.idA)))
	checkVoiceProcessing(t, w.tabA, "A", true)
}

// carolComes: A schedules another room, and Carol comes to listen.
func (w *walk) carolComes() apiv1.RoomState {
	t := w.t
	t.Helper()
	// A schedules another room for tomorrow (through the API, as the CLI
	// would), and Carol, on a third node without a browser, comes to
	// listen: the hallway and the room have some life in them. Carol's
	// node serves its API, for the clubnode command to record with.
	party, err := w.a.CreateRoom(w.ctx, apiv1.CreateRoomRequest{Title: "Go 1.27 release party", Start: time.Now().Add(26 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	w.c = startUINode(t, "Carol")
	inv, err := w.a.CreateInvite(w.ctx, apiv1.CreateInviteRequest{Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.c.Join(w.ctx, apiv1.JoinRequest{Token: inv.Token}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := w.c.RoomAction(w.ctx, w.roomID, apiv1.ActionJoin, apiv1.RoomActionRequest{})
		return err
	})
	if _, err := w.c.SetProfile(w.ctx, apiv1.SetProfileRequest{Name: "Carol", Bio: "Listens to Go talks at night", Support: ptr(carolSupport)}); err != nil {
		t.Fatal(err)
	}
	return party
}

// roomInHallway: B sees the room live in the hallway.
func (w *walk) roomInHallway(party apiv1.RoomState) {
	t := w.t
	t.Helper()
	// B sees the room live in the hallway, with A on stage and Carol
	// listening, and the scheduled one.
	card := w.card()
	waitFor(t, w.tabB, "the room in B's hallway", fmt.Sprintf(`document.querySelector(%s)`, sel(card))+` && `+
		contains(textOf(card), "Alice")+` && `+contains(textOf(card), "1 listening"))
	waitFor(t, w.tabB, "the scheduled room", contains(textOf("#scheduled-rooms"), "Go 1.27 release party"))
	checkHallwayFinding(t, w.tabB, card)
	checkRemindAndCalendar(t, w.tabB, w.b, party)
	checkRoomLink(t, w.tabA, w.tabB, w.roomID)
	screenshot(t, w.tabB, w.shots, "hallway.png")
	checkAccessibleNames(t, w.tabB, "hallway")
}

// card is the selector of the room's card in the hallway.
func (w *walk) card() string { return fmt.Sprintf(`#live-rooms a[data-room=%s]`, sel(w.roomID)) }

// joinAndAskToSpeak: B opens the room with the keyboard, joins, hears A and raises a hand;
// A invites B to speak and B accepts.
func (w *walk) joinAndAskToSpeak() {
	t := w.t
	t.Helper()
	// B opens it with the keyboard alone, joins, and hears A.
	do(t, w.tabB, "B opens the room with Enter", focusNow(w.card()), chromedp.KeyEvent("\r"))
	waitFor(t, w.tabB, "the room's join button", `document.querySelector('#join-room')`)
	waitFor(t, w.tabB, "the stage before joining", contains(textOf("#preview-stage"), "Alice")+` && `+contains(textOf("#preview-stage"), "Host"))
	do(t, w.tabB, "B joins the room", chromedp.Click(chromedp.CSS("#join-room")))
	waitFor(t, w.tabB, "B in the room", `!document.querySelector('#hand-button')?.hidden`)
	waitFor(t, w.tabB, "B hears the room", `window.clubnodeMetrics.firstSoundMs !== undefined`)
	t.Logf("from opening the room to its first sound in B's browser: %d ms", eval[int](t, w.tabB, `window.clubnodeMetrics.firstSoundMs`))

	do(t, w.tabB, "B raises a hand", chromedp.Click(chromedp.CSS("#hand-button")))
	waitFor(t, w.tabB, "B's hand up", `document.querySelector('#hand-button').getAttribute('aria-pressed') === 'true'`)

	// A sees the raised hand and invites B to speak.
	invite := fmt.Sprintf(`#hands [data-invite=%s]`, sel(w.idB))
	waitFor(t, w.tabA, "B's hand in A's list", fmt.Sprintf(`document.querySelector(%s)`, sel(invite)))
	waitFor(t, w.tabA, "the raised-hands count on A's toolbar", `!document.querySelector('#hands-count').hidden && `+contains(textOf("#hands-count"), "1 hand raised"))
	do(t, w.tabA, "A invites B to speak", clickNow(invite))

	// B is asked "Join the stage?" and accepts; B comes up muted.
	waitFor(t, w.tabB, "the invitation", `!document.querySelector('.invite-prompt').hidden && document.activeElement.id === 'accept-invite'`)

	// Carol raises a hand too, and waits in A's list. (Only after A's
	// invitation has landed: the host applies concurrent requests to the
	// same version, and one of two at once can be lost; reported.)
	if _, err := w.c.RoomAction(w.ctx, w.roomID, apiv1.ActionHandUp, apiv1.RoomActionRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w.tabA, "Carol's hand in A's list", fmt.Sprintf(`document.querySelector('#hands [data-invite=%s]')`, sel(w.c.ID().String())))
	do(t, w.tabB, "B accepts", chromedp.Click(chromedp.CSS("#accept-invite")))
	w.onStageB = fmt.Sprintf(`#stage [data-peer=%s]`, sel(w.idB))
	waitFor(t, w.tabB, "B on stage", fmt.Sprintf(`document.querySelector(%s)`, sel(w.onStageB)))
	waitFor(t, w.tabA, "B on A's stage, muted", fmt.Sprintf(`document.querySelector(%s)`, sel(w.onStageB+" .badge.muted")))
}

// speakAndRecord: B speaks, A mutes, and Carol records; the rings light for B only.
func (w *walk) speakAndRecord() *listenRun {
	t := w.t
	t.Helper()
	// B unmutes and speaks; A mutes. In A's view the ring lights for B,
	// who talks, and not for A, who is silent.
	do(t, w.tabB, "B unmutes", chromedp.Click(chromedp.CSS("#mic-button")))
	do(t, w.tabA, "A mutes", chromedp.Click(chromedp.CSS("#mic-button")))
	ringOf := func(id string) string {
		return fmt.Sprintf(`document.querySelector('#stage [data-peer=%s]')?.classList.contains('speaking')`, sel(id))
	}
	waitFor(t, w.tabA, "A's stage: B unmuted, A muted", fmt.Sprintf(`!document.querySelector(%s) && document.querySelector(%s)`,
		sel(w.onStageB+" .badge.muted"), sel(fmt.Sprintf(`#stage [data-peer=%s] .badge.muted`, sel(w.idA)))))
	checkVoiceProcessing(t, w.tabB, "B", false)

	// Carol records the room with `clubnode listen` while B talks. B walks
	// off to the hallway meanwhile: the room goes on playing and B's
	// microphone on sending, and a bar says which room B is in.
	record := startListen(t, w.cli, w.c, w.roomID)
	do(t, w.tabB, "B walks to the hallway", chromedp.Click(chromedp.CSS(`#nav a[data-route="hallway"]`)))
	waitFor(t, w.tabB, "the room's bar in B's hallway", contains(textOf("#now-in"), "Late-night Go")+` && `+
		contains(textOf("#now-in"), "microphone live"))
	screenshotOf(t, w.tabB, w.shots, "now-in.png", "#now-in")
	waitFor(t, w.tabA, "the ring on B in A's view", ringOf(w.idB))
	// A is muted: A's ring must stay dark while B's is lit, sampled over
	// a few level updates.
	lit := eval[string](t, w.tabA, fmt.Sprintf(`new Promise((done) => {
		let a = 0, b = 0;
		const timer = setInterval(() => { if (%s) a++; if (%s) b++; }, 50);
		setTimeout(() => { clearInterval(timer); done(a + '/' + b); }, 1000);
	})`, ringOf(w.idA), ringOf(w.idB)))
	if !strings.HasPrefix(lit, "0/") || lit == "0/0" {
		t.Errorf("over 1 s of samples, A's ring (muted) was lit/B's ring (talking) was lit: %s; want 0/>0", lit)
	}
	waitFor(t, w.tabA, "Carol's name in A's audience", contains(textOf("#audience"), "Carol"))
	screenshot(t, w.tabA, w.shots, "room.png")
	checkAccessibleNames(t, w.tabA, "room (host)")
	checkAccessibleNames(t, w.tabB, "room (speaker)")
	return record
}

// checkMenu: the moderator's menu on B, opened and closed with the keyboard.
func (w *walk) checkMenu() {
	t := w.t
	t.Helper()
	// The moderator's menu on B, opened and closed with the keyboard.
	menuButton := fmt.Sprintf(`#stage [data-peer=%s] .menu-button`, sel(w.idB))
	do(t, w.tabA, "A opens B's menu", focusNow(menuButton), chromedp.KeyEvent("\r"))
	waitFor(t, w.tabA, "B's menu", fmt.Sprintf(`document.activeElement.closest('.menu') && document.querySelector(%s).getAttribute('aria-expanded') === 'true'`, sel(menuButton)))
	items := eval[[]string](t, w.tabA, `[...document.activeElement.closest('.menu').querySelectorAll('button')].map((b) => b.dataset.action)`)
	if strings.Join(items, ",") != "mute,move-to-audience,make-moderator,remove" {
		t.Errorf("host's menu on an unmuted speaker: %v; A's state: %s", items,
			eval[string](t, w.tabA, fmt.Sprintf(`JSON.stringify({stage: window.clubnodeState.rooms.get(%s).stage, actions: window.clubnodeState.rooms.get(%s).actions})`, sel(w.roomID), sel(w.roomID))))
	}
	// The room changes while the menu is open (Carol lowers her hand): the
	// stage is drawn again, and the focus stays on the menu's first item.
	if _, err := w.c.RoomAction(w.ctx, w.roomID, apiv1.ActionHandDown, apiv1.RoomActionRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w.tabA, "Carol's hand gone from A's list", fmt.Sprintf(`!document.querySelector('#hands [data-invite=%s]')`, sel(w.c.ID().String())))
	if got := eval[string](t, w.tabA, `document.activeElement.dataset.action || document.activeElement.outerHTML`); got != "mute" {
		t.Errorf("after the room changed under the open menu, the focus is on %s, want the menu's first item (mute)", got)
	}
	do(t, w.tabA, "A closes the menu", chromedp.KeyEvent("\x1b"))
	waitFor(t, w.tabA, "the menu closed, the focus on its button", fmt.Sprintf(`document.querySelector(%[1]s).getAttribute('aria-expanded') === 'false' && document.activeElement === document.querySelector(%[1]s)`, sel(menuButton)))
}

// checkRecording: Carol's recording carries B's voice.
func (w *walk) checkRecording(record *listenRun) {
	t := w.t
	t.Helper()
	// Carol's recording carries B's voice: the file B's microphone plays,
	// found somewhere in the loop. A's page switched A's microphone off,
	// but on a busy machine what it sent before can still be on its way
	// (A plays the same speech): the recording counts from the moment
	// Carol's node has mixed nothing of A's for a second, plus listen's
	// buffer. It then spans two loops, so one whole loop lies inside it at
	// a lag under one loop.
	var quietSince time.Time
	heardB := false
	testutil.Eventually(t, 30*time.Second, func() error {
		levels := w.c.AudioLevels(w.roomID)
		if _, a := levels[w.idA]; a || quietSince.IsZero() {
			quietSince, heardB = time.Now(), false
			return errors.New("Carol's node still mixes A's microphone")
		}
		if _, b := levels[w.idB]; b {
			heardB = true
		}
		if time.Since(quietSince) < time.Second || !heardB {
			return errors.New("Carol's node has not mixed B alone for a second yet")
		}
		return nil
	})
	onlyB := record.samples() + int(listenDelay/audio.FrameDuration)*audio.FrameSamples
	captured0, began := eval[float64](t, w.tabB, `window.clubnodeMetrics.captured()`), time.Now()
	mix0, _ := w.c.ListenStats(w.roomID, w.idB)
	record.waitFor(t, onlyB, 2*voiceLoop+time.Second)
	captured, took := eval[float64](t, w.tabB, `window.clubnodeMetrics.captured()`)-captured0, time.Since(began)
	mix, _ := w.c.ListenStats(w.roomID, w.idB)
	heard := record.stopAndRead(t, onlyB)
	// What moved B's speech against time while Carol recorded, if the
	// match fails: a microphone that delivered less than the time passed,
	// or the mix's jitter buffer dropping (skipped) or making up audio.
	t.Logf("while Carol recorded: B's microphone delivered %.3f s of audio in %s; Carol's mix of B: %d packets late, %d frames concealed, %d skipped, %d stretched, %d restarts",
		captured, took.Round(time.Millisecond), mix.Late-mix0.Late, mix.Concealed-mix0.Concealed,
		mix.Skipped-mix0.Skipped, mix.Stretched-mix0.Stretched, mix.Resets-mix0.Resets)
	corr, lag := audiotest.Match(w.voice, heard, voiceLoop+200*time.Millisecond)
	t.Logf("Carol's recording (%s) against B's microphone file: correlation %.3f at lag %s (threshold %.2f)",
		time.Duration(len(heard))*time.Second/48000, corr, lag, audiotest.MatchThreshold)
	if corr < audiotest.MatchThreshold {
		// Whether the speech slipped in time (a stretch sits elsewhere in
		// the loop than the last one said) or was damaged (a stretch
		// matches badly): two seconds at a time, each found in the loop.
		const stretch = 2 * audio.SampleRate
		loop := len(w.voice)
		twice := append(slices.Clone(w.voice), w.voice...)
		first := -1
		for at := 0; at+stretch <= len(heard); at += stretch / 2 {
			c, l := audiotest.Match(heard[at:at+stretch], twice, voiceLoop)
			pos := int(l * audio.SampleRate / time.Second)
			if first < 0 {
				first = pos - at
			}
			slip := ((pos-first-at)%loop+loop+loop/2)%loop - loop/2
			t.Logf("Carol's recording from %s: correlation %.3f, %s from where the first stretch puts it",
				time.Duration(at)*time.Second/audio.SampleRate, c, time.Duration(slip)*time.Second/audio.SampleRate)
		}
		// With CLUBNODE_SCREENSHOTS set, the folder outlives the test.
		kept := filepath.Join(w.shots, "carol-recording.wav")
		if err := audiotest.WriteWAV(kept, heard); err != nil {
			kept = err.Error()
		}
		t.Errorf("Carol's recording matches B's microphone at %.3f, below %.2f (recorded in %s)", corr, audiotest.MatchThreshold, kept)
	}
}

// phoneAndSettings: B goes back to the room, at a phone's width, then to the settings.
func (w *walk) phoneAndSettings() {
	t := w.t
	t.Helper()
	// B goes back to the room through the bar.
	do(t, w.tabB, "B returns to the room", chromedp.Click(chromedp.CSS("#now-in-room")))
	waitFor(t, w.tabB, "B's room again, and no bar", contains(textOf("#room-heading"), "Late-night Go")+` && document.querySelector('#now-in').hidden`)

	// The same room at a phone's width.
	do(t, w.tabB, "phone width", chromedp.EmulateViewport(390, 844))
	waitFor(t, w.tabB, "the phone layout", `getComputedStyle(document.querySelector('.controls')).position === 'fixed'`)
	screenshot(t, w.tabB, w.shots, "room-phone.png")

	// Settings: the relay capacity goes to the config file, for the next
	// start of the daemon.
	do(t, w.tabB, "laptop width", chromedp.EmulateViewport(1280, 820))
	do(t, w.tabB, "B opens the settings", chromedp.Click(chromedp.CSS(`#nav a[data-route="settings"]`)))
	waitFor(t, w.tabB, "the settings", `document.querySelector('#relay-capacity')?.value === '4'`)
	checkSettingsSources(t, w.tabB)
	checkAccessibleNames(t, w.tabB, "settings")
	do(t, w.tabB, "B changes the relay capacity",
		chromedp.SetValue(chromedp.CSS("#relay-capacity"), "8"),
		chromedp.Click(chromedp.CSS("#save-settings")))
	waitFor(t, w.tabB, "saved", contains(textOf("#settings-status"), "Restart the daemon"))
	screenshot(t, w.tabB, w.shots, "settings.png")
	if cfg, err := w.b.Settings(w.ctx); err != nil || cfg.RelayCapacity != 8 || !cfg.RestartNeeded {
		t.Errorf("B's config file after saving: %+v, %v", cfg, err)
	}
}
