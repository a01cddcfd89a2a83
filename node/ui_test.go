package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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
	shots := screenshotDir(t)
	// Both tabs' fake microphone plays this speech, looped.
	wav, voice := writeSpeechWAV(t, voiceLoop, 5)
	browser := startBrowser(t, wav)
	cli := buildCLI(t)
	a, b := startUINode(t, "Alice"), startUINode(t, "Bob")
	tabA := newTab(t, browser, 1280, 820)
	tabB := newTab(t, browser, 1280, 820)
	idA, idB := a.ID().String(), b.ID().String()

	// A signs in with a one-time link and founds a network on first run.
	do(t, tabA, "A signs in", chromedp.Navigate(a.loginURL(t)))
	waitFor(t, tabA, "A's first-run view", `document.querySelector('#found-button')`)
	checkAccessibleNames(t, tabA, "first run")
	screenshot(t, tabA, shots, "first-run.png")
	// The name is outside both forms: a blank one is refused in the page.
	do(t, tabA, "A tries a blank name",
		chromedp.SetValue(chromedp.CSS("#me-name"), "   "),
		chromedp.SetValue(chromedp.CSS("#network-name"), "Night Owls"),
		chromedp.Click(chromedp.CSS("#found-button")))
	waitFor(t, tabA, "the blank name refused", contains(textOf(".form-error"), "Give your name first"))
	do(t, tabA, "A founds a network",
		chromedp.SetValue(chromedp.CSS("#me-name"), "Alice"),
		chromedp.SetValue(chromedp.CSS("#network-name"), "Night Owls"),
		chromedp.Click(chromedp.CSS("#found-button")))
	waitFor(t, tabA, "A's hallway", contains(textOf("h1"), "Hallway"))

	// A makes an invite on the profile page: token, link and QR code.
	do(t, tabA, "A opens the profile", chromedp.Click(chromedp.CSS(`#nav a[data-route="profile"]`)))
	do(t, tabA, "A creates an invite", chromedp.Click(chromedp.CSS("#create-invite")))
	waitFor(t, tabA, "the invite", `document.querySelector('#invite-token-out')?.value.startsWith('clubnode:')`)
	token := eval[string](t, tabA, `document.querySelector('#invite-token-out').value`)
	link := eval[string](t, tabA, `document.querySelector('#invite-link').href`)
	if want := a.url + "/#/join/" + token; link != want {
		t.Errorf("invite link %q, want %q: this app's address, the token in the fragment", link, want)
	}
	checkInviteQR(t, tabA, token)
	checkAccessibleNames(t, tabA, "profile")
	screenshotOf(t, tabA, shots, "invite.png", `form[aria-labelledby="invite-heading"]`)

	// B opens A's invite link (at B's own node's port: the fragment works
	// in any app) before signing in: the app keeps the token through
	// sign-in, offers it in the join form and says what it is.
	inviteOnB := b.url + "/#/join/" + url.PathEscape(token)
	do(t, tabB, "B opens the invite link", chromedp.Navigate(inviteOnB))
	waitFor(t, tabB, "the sign-in view", contains(textOf("main"), "clubnode ui"))
	screenshot(t, tabB, shots, "invitee-1-link.png")
	do(t, tabB, "B signs in", chromedp.Navigate(b.loginURL(t)))
	waitFor(t, tabB, "B's join form with the invite", `document.querySelector('#invite-token')?.value === `+sel(token))
	waitFor(t, tabB, "who invites B to which network", contains(textOf("#invite-preview"), "Alice invites you to Night Owls")+
		` && `+contains(textOf("#invite-preview"), "It lets one person in"))
	do(t, tabB, "B gives a name", chromedp.SetValue(chromedp.CSS("#me-name"), "Bob"))
	screenshot(t, tabB, shots, "invitee-2-preview.png")
	do(t, tabB, "B joins", chromedp.Click(chromedp.CSS("#join-button")))
	waitFor(t, tabB, "B's hallway", contains(textOf("h1"), "Hallway"))
	screenshot(t, tabB, shots, "invitee-3-joined.png")

	// B wears a headset: voice processing off in Settings, so what B's
	// microphone hears reaches the room as it is (and Carol's recording
	// can be compared with the file).
	do(t, tabB, "B opens the settings", chromedp.Click(chromedp.CSS(`#nav a[data-route="settings"]`)))
	waitFor(t, tabB, "the voice processing switch", `document.querySelector('#voice-processing')?.checked`)
	do(t, tabB, "B turns voice processing off", chromedp.Click(chromedp.CSS("#voice-processing")))
	waitFor(t, tabB, "voice processing off", `localStorage.getItem('clubnode.voiceProcessing') === 'off'`)
	do(t, tabB, "B goes to the hallway", chromedp.Click(chromedp.CSS(`#nav a[data-route="hallway"]`)))
	waitFor(t, tabB, "B's hallway again", contains(textOf("h1"), "Hallway"))

	// A starts a room now and unmutes: A's fake microphone is A's voice.
	do(t, tabA, "A goes to the hallway", chromedp.Click(chromedp.CSS(`#nav a[data-route="hallway"]`)))
	do(t, tabA, "A starts a room",
		chromedp.SetValue(chromedp.CSS("#room-title"), "Late-night Go"),
		chromedp.Click(chromedp.CSS("#start-room")))
	waitFor(t, tabA, "A's room", contains(textOf("#room-heading"), "Late-night Go")+` && `+contains(textOf(".room-meta"), "You are the host"))
	roomID := strings.TrimPrefix(eval[string](t, tabA, `decodeURIComponent(location.hash)`), "#/room/")
	do(t, tabA, "A unmutes", chromedp.Click(chromedp.CSS("#mic-button")))
	waitFor(t, tabA, "A unmuted", fmt.Sprintf(`!document.querySelector('#stage [data-peer=%s] .badge.muted')`, sel(idA)))
	checkVoiceProcessing(t, tabA, "A", true)

	// A schedules another room for tomorrow (through the API, as the CLI
	// would), and Carol, on a third node without a browser, comes to
	// listen: the hallway and the room have some life in them. Carol's
	// node serves its API, for the clubnode command to record with.
	ctx := context.Background()
	party, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Go 1.27 release party", Start: time.Now().Add(26 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	c := startUINode(t, "Carol")
	inv, err := a.CreateInvite(ctx, apiv1.CreateInviteRequest{Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, apiv1.JoinRequest{Token: inv.Token}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := c.RoomAction(ctx, roomID, apiv1.ActionJoin, apiv1.RoomActionRequest{})
		return err
	})
	if _, err := c.SetProfile(ctx, apiv1.SetProfileRequest{Name: "Carol", Bio: "Listens to Go talks at night", Support: ptr(carolSupport)}); err != nil {
		t.Fatal(err)
	}

	// B sees the room live in the hallway, with A on stage and Carol
	// listening, and the scheduled one.
	card := fmt.Sprintf(`#live-rooms a[data-room=%s]`, sel(roomID))
	waitFor(t, tabB, "the room in B's hallway", fmt.Sprintf(`document.querySelector(%s)`, sel(card))+` && `+
		contains(textOf(card), "Alice")+` && `+contains(textOf(card), "1 listening"))
	waitFor(t, tabB, "the scheduled room", contains(textOf("#scheduled-rooms"), "Go 1.27 release party"))
	checkHallwayFinding(t, tabB, card)
	checkRemindAndCalendar(t, tabB, b, party)
	checkRoomLink(t, tabA, tabB, roomID)
	screenshot(t, tabB, shots, "hallway.png")
	checkAccessibleNames(t, tabB, "hallway")

	// B opens it with the keyboard alone, joins, and hears A.
	do(t, tabB, "B opens the room with Enter", chromedp.Focus(chromedp.CSS(card)), chromedp.KeyEvent("\r"))
	waitFor(t, tabB, "the room's join button", `document.querySelector('#join-room')`)
	waitFor(t, tabB, "the stage before joining", contains(textOf("#preview-stage"), "Alice")+` && `+contains(textOf("#preview-stage"), "Host"))
	do(t, tabB, "B joins the room", chromedp.Click(chromedp.CSS("#join-room")))
	waitFor(t, tabB, "B in the room", `!document.querySelector('#hand-button')?.hidden`)
	waitFor(t, tabB, "B hears the room", `window.clubnodeMetrics.firstSoundMs !== undefined`)
	t.Logf("from opening the room to its first sound in B's browser: %d ms", eval[int](t, tabB, `window.clubnodeMetrics.firstSoundMs`))

	do(t, tabB, "B raises a hand", chromedp.Click(chromedp.CSS("#hand-button")))
	waitFor(t, tabB, "B's hand up", `document.querySelector('#hand-button').getAttribute('aria-pressed') === 'true'`)

	// A sees the raised hand and invites B to speak.
	invite := fmt.Sprintf(`#hands [data-invite=%s]`, sel(idB))
	waitFor(t, tabA, "B's hand in A's list", fmt.Sprintf(`document.querySelector(%s)`, sel(invite)))
	waitFor(t, tabA, "the raised-hands count on A's toolbar", `!document.querySelector('#hands-count').hidden && `+contains(textOf("#hands-count"), "1 hand raised"))
	do(t, tabA, "A invites B to speak", chromedp.Click(chromedp.CSS(invite)))

	// B is asked "Join the stage?" and accepts; B comes up muted.
	waitFor(t, tabB, "the invitation", `!document.querySelector('.invite-prompt').hidden && document.activeElement.id === 'accept-invite'`)

	// Carol raises a hand too, and waits in A's list. (Only after A's
	// invitation has landed: the host applies concurrent requests to the
	// same version, and one of two at once can be lost; reported.)
	if _, err := c.RoomAction(ctx, roomID, apiv1.ActionHandUp, apiv1.RoomActionRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tabA, "Carol's hand in A's list", fmt.Sprintf(`document.querySelector('#hands [data-invite=%s]')`, sel(c.ID().String())))
	do(t, tabB, "B accepts", chromedp.Click(chromedp.CSS("#accept-invite")))
	onStageB := fmt.Sprintf(`#stage [data-peer=%s]`, sel(idB))
	waitFor(t, tabB, "B on stage", fmt.Sprintf(`document.querySelector(%s)`, sel(onStageB)))
	waitFor(t, tabA, "B on A's stage, muted", fmt.Sprintf(`document.querySelector(%s)`, sel(onStageB+" .badge.muted")))

	// B unmutes and speaks; A mutes. In A's view the ring lights for B,
	// who talks, and not for A, who is silent.
	do(t, tabB, "B unmutes", chromedp.Click(chromedp.CSS("#mic-button")))
	do(t, tabA, "A mutes", chromedp.Click(chromedp.CSS("#mic-button")))
	ringOf := func(id string) string {
		return fmt.Sprintf(`document.querySelector('#stage [data-peer=%s]')?.classList.contains('speaking')`, sel(id))
	}
	waitFor(t, tabA, "A's stage: B unmuted, A muted", fmt.Sprintf(`!document.querySelector(%s) && document.querySelector(%s)`,
		sel(onStageB+" .badge.muted"), sel(fmt.Sprintf(`#stage [data-peer=%s] .badge.muted`, sel(idA)))))
	checkVoiceProcessing(t, tabB, "B", false)

	// Carol records the room with `clubnode listen` while B talks. B walks
	// off to the hallway meanwhile: the room goes on playing and B's
	// microphone on sending, and a bar says which room B is in.
	record := startListen(t, cli, c, roomID)
	do(t, tabB, "B walks to the hallway", chromedp.Click(chromedp.CSS(`#nav a[data-route="hallway"]`)))
	waitFor(t, tabB, "the room's bar in B's hallway", contains(textOf("#now-in"), "Late-night Go")+` && `+
		contains(textOf("#now-in"), "microphone live"))
	screenshotOf(t, tabB, shots, "now-in.png", "#now-in")
	waitFor(t, tabA, "the ring on B in A's view", ringOf(idB))
	// A is muted: A's ring must stay dark while B's is lit, sampled over
	// a few level updates.
	lit := eval[string](t, tabA, fmt.Sprintf(`new Promise((done) => {
		let a = 0, b = 0;
		const timer = setInterval(() => { if (%s) a++; if (%s) b++; }, 50);
		setTimeout(() => { clearInterval(timer); done(a + '/' + b); }, 1000);
	})`, ringOf(idA), ringOf(idB)))
	if !strings.HasPrefix(lit, "0/") || lit == "0/0" {
		t.Errorf("over 1 s of samples, A's ring (muted) was lit/B's ring (talking) was lit: %s; want 0/>0", lit)
	}
	waitFor(t, tabA, "Carol's name in A's audience", contains(textOf("#audience"), "Carol"))
	screenshot(t, tabA, shots, "room.png")
	checkAccessibleNames(t, tabA, "room (host)")
	checkAccessibleNames(t, tabB, "room (speaker)")

	// The moderator's menu on B, opened and closed with the keyboard.
	menuButton := fmt.Sprintf(`#stage [data-peer=%s] .menu-button`, sel(idB))
	do(t, tabA, "A opens B's menu", chromedp.Focus(chromedp.CSS(menuButton)), chromedp.KeyEvent("\r"))
	waitFor(t, tabA, "B's menu", fmt.Sprintf(`document.activeElement.closest('.menu') && document.querySelector(%s).getAttribute('aria-expanded') === 'true'`, sel(menuButton)))
	items := eval[[]string](t, tabA, `[...document.activeElement.closest('.menu').querySelectorAll('button')].map((b) => b.dataset.action)`)
	if strings.Join(items, ",") != "mute,move-to-audience,make-moderator,remove" {
		t.Errorf("host's menu on an unmuted speaker: %v; A's state: %s", items,
			eval[string](t, tabA, fmt.Sprintf(`JSON.stringify({stage: window.clubnodeState.rooms.get(%s).stage, actions: window.clubnodeState.rooms.get(%s).actions})`, sel(roomID), sel(roomID))))
	}
	// The room changes while the menu is open (Carol lowers her hand): the
	// stage is drawn again, and the focus stays on the menu's first item.
	if _, err := c.RoomAction(ctx, roomID, apiv1.ActionHandDown, apiv1.RoomActionRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tabA, "Carol's hand gone from A's list", fmt.Sprintf(`!document.querySelector('#hands [data-invite=%s]')`, sel(c.ID().String())))
	if got := eval[string](t, tabA, `document.activeElement.dataset.action || document.activeElement.outerHTML`); got != "mute" {
		t.Errorf("after the room changed under the open menu, the focus is on %s, want the menu's first item (mute)", got)
	}
	do(t, tabA, "A closes the menu", chromedp.KeyEvent("\x1b"))
	waitFor(t, tabA, "the menu closed, the focus on its button", fmt.Sprintf(`document.querySelector(%[1]s).getAttribute('aria-expanded') === 'false' && document.activeElement === document.querySelector(%[1]s)`, sel(menuButton)))

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
		levels := c.AudioLevels(roomID)
		if _, a := levels[idA]; a || quietSince.IsZero() {
			quietSince, heardB = time.Now(), false
			return errors.New("Carol's node still mixes A's microphone")
		}
		if _, b := levels[idB]; b {
			heardB = true
		}
		if time.Since(quietSince) < time.Second || !heardB {
			return errors.New("Carol's node has not mixed B alone for a second yet")
		}
		return nil
	})
	onlyB := record.samples() + int(listenDelay/audio.FrameDuration)*audio.FrameSamples
	heard := record.record(t, onlyB, 2*voiceLoop+time.Second)
	corr, lag := audiotest.Match(voice, heard, voiceLoop+200*time.Millisecond)
	t.Logf("Carol's recording (%s) against B's microphone file: correlation %.3f at lag %s (threshold %.2f)",
		time.Duration(len(heard))*time.Second/48000, corr, lag, audiotest.MatchThreshold)
	if corr < audiotest.MatchThreshold {
		t.Errorf("Carol's recording matches B's microphone at %.3f, below %.2f", corr, audiotest.MatchThreshold)
	}

	// B goes back to the room through the bar.
	do(t, tabB, "B returns to the room", chromedp.Click(chromedp.CSS("#now-in-room")))
	waitFor(t, tabB, "B's room again, and no bar", contains(textOf("#room-heading"), "Late-night Go")+` && document.querySelector('#now-in').hidden`)

	// The same room at a phone's width.
	do(t, tabB, "phone width", chromedp.EmulateViewport(390, 844))
	waitFor(t, tabB, "the phone layout", `getComputedStyle(document.querySelector('.controls')).position === 'fixed'`)
	screenshot(t, tabB, shots, "room-phone.png")

	// Settings: the relay capacity goes to the config file, for the next
	// start of the daemon.
	do(t, tabB, "laptop width", chromedp.EmulateViewport(1280, 820))
	do(t, tabB, "B opens the settings", chromedp.Click(chromedp.CSS(`#nav a[data-route="settings"]`)))
	waitFor(t, tabB, "the settings", `document.querySelector('#relay-capacity')?.value === '4'`)
	checkSettingsSources(t, tabB)
	checkAccessibleNames(t, tabB, "settings")
	do(t, tabB, "B changes the relay capacity",
		chromedp.SetValue(chromedp.CSS("#relay-capacity"), "8"),
		chromedp.Click(chromedp.CSS("#save-settings")))
	waitFor(t, tabB, "saved", contains(textOf("#settings-status"), "Restart the daemon"))
	screenshot(t, tabB, shots, "settings.png")
	if cfg, err := b.Settings(ctx); err != nil || cfg.RelayCapacity != 8 || !cfg.RestartNeeded {
		t.Errorf("B's config file after saving: %+v, %v", cfg, err)
	}

	checkBarMute(t, tabA, tabB, idB)

	// From the settings, B leaves the room through the bar: B's sound
	// stops, and A's stage no longer has B.
	do(t, tabB, "B leaves through the bar", chromedp.Click(chromedp.CSS("#now-in-leave")))
	waitFor(t, tabB, "the bar gone and B's sound off", `document.querySelector('#now-in').hidden && !window.clubnodeState.sound`)
	waitFor(t, tabA, "B off A's stage", fmt.Sprintf(`!document.querySelector(%s) && !`, sel(onStageB))+contains(textOf("#audience"), "Bob"))

	checkSupportButton(t, tabA, c.ID().String())
	checkNoPageErrors(t, tabA, "A")
	checkNoPageErrors(t, tabB, "B")
	t.Logf("screenshots in %s; the whole walk took %s", shots, time.Since(began).Round(time.Millisecond))
}

// checkVoiceProcessing checks that the browser applied the Settings'
// voice processing switch to the microphone it opened last.
func checkVoiceProcessing(t *testing.T, tab context.Context, who string, want bool) {
	t.Helper()
	waitFor(t, tab, who+"'s microphone open", `window.clubnodeMetrics.microphone`)
	got := eval[[]bool](t, tab, `['echoCancellation', 'noiseSuppression', 'autoGainControl'].map((k) => window.clubnodeMetrics.microphone[k])`)
	for i, name := range []string{"echo cancellation", "noise suppression", "automatic gain"} {
		if got[i] != want {
			t.Errorf("%s's microphone: %s %v, want %v", who, name, got[i], want)
		}
	}
}

// voiceLoop is how long the fake microphone's file is: at least 2 s of
// speech for Match to tell it apart from other speech.
const voiceLoop = 3 * time.Second

// listenDelay is clubnode listen's jitter buffer (its --delay default):
// a recording starts with that much silence.
const listenDelay = time.Second

// startListen runs `clubnode listen ROOM --output out.wav` against node n,
// as a user on n's computer would.
func startListen(t *testing.T, cli string, n *uiNode, room string) *listenRun {
	t.Helper()
	out := filepath.Join(t.TempDir(), "recording.wav")
	return &listenRun{out: out, run: startCLI(t, cli, n, "listen", room, "--output", out, "--duration", "5m")}
}

// listenRun is a `clubnode listen` recording into a WAV file.
type listenRun struct {
	out string
	run *cliRun
}

// samples is how many samples the recording holds so far.
func (l *listenRun) samples() int {
	fi, err := os.Stat(l.out)
	if err != nil || fi.Size() < 44 {
		return 0
	}
	return int(fi.Size()-44) / 2 // the WAV header, then 16-bit samples
}

// record waits until the recording holds d of audio past sample from,
// stops it with Ctrl-C and returns what it holds from there. Measured in
// audio, not in the time since the command started, the recording holds d
// however long joining took on a busy machine.
func (l *listenRun) record(t *testing.T, from int, d time.Duration) []int16 {
	t.Helper()
	want := from + int(d/audio.FrameDuration)*audio.FrameSamples
	testutil.Eventually(t, d+30*time.Second, func() error {
		if got := l.samples(); got < want {
			return fmt.Errorf("the recording holds %d samples, want %d", got, want)
		}
		return nil
	})
	l.run.stop(t)
	pcm, err := audiotest.ReadWAV(l.out)
	if err != nil {
		t.Fatal(err)
	}
	return pcm[min(from, len(pcm)):]
}

// cliRun is a clubnode command running in the background.
type cliRun struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	done   chan error
}

// startCLI starts `clubnode --home HOME args...` against the in-process
// node n; the test's cleanup kills it if it is still running.
func startCLI(t *testing.T, cli string, n *uiNode, args ...string) *cliRun {
	t.Helper()
	r := &cliRun{cmd: exec.Command(cli, append([]string{"--home", n.cfg.Home.Dir}, args...)...),
		stderr: &strings.Builder{}, done: make(chan error, 1)}
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	// done keeps the exit for both wait and the cleanup.
	go func() {
		err := <-exited
		r.done <- err
		close(r.done)
	}()
	return r
}

// wait waits up to timeout for the command to end well.
func (r *cliRun) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Fatalf("clubnode %s: %v\n%s", strings.Join(r.cmd.Args[3:], " "), err, r.stderr.String())
		}
	case <-time.After(timeout):
		r.cmd.Process.Kill()
		<-r.done // the output is whole once the command has been waited for
		t.Fatalf("clubnode %s: still running after %s\n%s", strings.Join(r.cmd.Args[3:], " "), timeout, r.stderr.String())
	}
}

// stop ends the command (Ctrl-C, as a user would) and waits for it.
func (r *cliRun) stop(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(os.Interrupt)
	r.wait(t, 10*time.Second)
}

// checkInviteQR decodes the invite's QR code from a screenshot with
// zbarimg (Debian's zbar-tools) and compares it with the token's text
// form, which the node draws.
func checkInviteQR(t *testing.T, tab context.Context, link string) {
	t.Helper()
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Logf("zbarimg not installed (scripts/install-deps.sh installs zbar-tools): QR code not decoded")
		return
	}
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	waitFor(t, tab, "the QR code", `document.querySelector('svg.qr')`)
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("svg.qr")))
	if err != nil {
		t.Fatalf("screenshot of the QR code: %v", err)
	}
	path := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--raw", "-q", path).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("zbarimg could not read the invite's QR code: %v %s", err, exit.Stderr)
	} else if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != link {
		t.Fatalf("QR code says %q, want the invite token %q", got, link)
	}
}

// TestWebUIRefusesOthers: only the signed-in user's own pages drive the
// node. A page from another origin (another port on 127.0.0.1, so the same
// site, so SameSite alone would not stop it) can neither call the API nor
// open the event stream, even while the browser holds a session; requests
// without the session, with a wrong Host or without the CSRF token are
// refused; a login link works once.
func TestWebUIRefusesOthers(t *testing.T) {
	checkLeaks(t)
	wav, _ := writeSpeechWAV(t, time.Second, 1)
	browser := startBrowser(t, wav)
	a := startUINode(t, "Alice")
	ctx := context.Background()
	if _, err := a.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	tab := newTab(t, browser, 1024, 700)

	// A fresh browser without a session gets the sign-in page, and the API
	// answers it 401.
	do(t, tab, "open the app without a session", chromedp.Navigate(a.url+"/"))
	waitFor(t, tab, "the sign-in view", contains(textOf("h1"), "Sign in"))
	if got := eval[int](t, tab, `fetch('/api/v1/id').then((r) => r.status)`); got != http.StatusUnauthorized {
		t.Errorf("API without a session: %d, want 401", got)
	}

	// Sign in; the link works once.
	login := a.loginURL(t)
	do(t, tab, "sign in", chromedp.Navigate(login))
	waitFor(t, tab, "the hallway", contains(textOf("h1"), "Hallway"))
	if got := eval[int](t, tab, `fetch('/api/v1/id').then((r) => r.status)`); got != http.StatusOK {
		t.Errorf("API with the session: %d, want 200", got)
	}
	cookieHttpOnly := eval[string](t, tab, `document.cookie`)
	if strings.Contains(cookieHttpOnly, "clubnode_session") {
		t.Errorf("the page's script can read the session cookie: %q", cookieHttpOnly)
	}
	// A state change without the CSRF header is refused; with it, it works.
	post := func(withCSRF bool) string {
		return fmt.Sprintf(`(async () => {
			const s = await (await fetch('/api/v1/session')).json();
			const headers = {'Content-Type': 'application/json'};
			if (%t) headers[s.csrf_header] = s.csrf_token;
			const r = await fetch('/api/v1/rooms', {method: 'POST', headers, body: JSON.stringify({title: 'csrf %t'})});
			return r.status + ' ' + (await r.json()).error;
		})()`, withCSRF, withCSRF)
	}
	if got := eval[string](t, tab, post(false)); got != "403 missing or wrong CSRF token" {
		t.Errorf("POST without the CSRF header: %q", got)
	}
	if got := eval[string](t, tab, post(true)); !strings.HasPrefix(got, "200") {
		t.Errorf("POST with the CSRF header: %q", got)
	}

	// A page on another origin, in the same signed-in browser.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>evil</title><form id=f method=post enctype=text/plain></form>`)
	}))
	defer evil.Close()
	do(t, tab, "open the other page", chromedp.Navigate(evil.URL))
	node := sel(a.url)
	results := eval[map[string]string](t, tab, fmt.Sprintf(`(async () => {
		const node = %s;
		const out = {};
		const attempt = async (name, fn) => { try { out[name] = String(await fn()); } catch (e) { out[name] = 'blocked: ' + e.name; } };
		await attempt('read', () => fetch(node + '/api/v1/id', {credentials: 'include'}).then((r) => r.status));
		await attempt('post', () => fetch(node + '/api/v1/rooms', {method: 'POST', credentials: 'include', mode: 'no-cors',
			headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({title: 'pwned'})}).then((r) => r.type));
		await attempt('events', () => new Promise((resolve) => {
			const es = new EventSource(node + '/api/v1/events', {withCredentials: true});
			let got = 0;
			for (const name of ['identity', 'hallway', 'members', 'message']) es.addEventListener(name, () => got++);
			es.onerror = () => { resolve('error, state ' + es.readyState + ', events ' + got); es.close(); };
			setTimeout(() => { resolve('open after 3 s, events ' + got); es.close(); }, 3000);
		}));
		return out;
	})()`, node))
	if !strings.HasPrefix(results["read"], "blocked") {
		t.Errorf("another origin read the API: %s", results["read"])
	}
	if results["events"] != "error, state 2, events 0" {
		t.Errorf("another origin's event stream: %s", results["events"])
	}
	// The no-cors POST leaves an opaque answer; what counts is that no
	// room was made. Nor by a plain form post.
	do(t, tab, "post a form at the node", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`const f = document.getElementById('f'); f.action = %s + '/api/v1/rooms'; f.submit()`, node)))
	waitFor(t, tab, "the node's answer to the form", `location.href.startsWith(`+node+`) && document.body.innerText.includes('not allowed')`)
	hall, err := a.Hallway(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range hall {
		if r.Title == "pwned" {
			t.Fatalf("another origin created a room: %+v", r)
		}
	}

	// The login link was spent.
	do(t, tab, "reuse the login link", chromedp.Navigate(login))
	waitFor(t, tab, "the spent-link page", contains(textOf("h1"), "does not work"))

	// Outside the browser: a real cookie from a real sign-in, then a wrong
	// Host (DNS rebinding) and a missing CSRF token.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar}
	resp, err := client.Get(a.loginURL(t))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	base, _ := url.Parse(a.url)
	if len(jar.Cookies(base)) != 1 {
		t.Fatalf("cookies after sign-in: %v", jar.Cookies(base))
	}
	request := func(method, host string, csrf bool) int {
		t.Helper()
		req, err := http.NewRequest(method, a.url+"/api/v1/rooms", strings.NewReader(`{"title":"from Go"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if host != "" {
			req.Host = host
		}
		if csrf {
			var info apiv1.SessionInfo
			r, err := client.Get(a.url + apiv1.PathSession)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.NewDecoder(r.Body).Decode(&info); err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			req.Header.Set(info.CSRFHeader, info.CSRFToken)
		}
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	for _, tt := range []struct {
		name   string
		method string
		host   string
		csrf   bool
		want   int
	}{
		{"cookie GET", "GET", "", false, 200},
		{"cookie GET, rebound Host", "GET", "clubnode.attacker.example:" + base.Port(), false, 403},
		{"cookie POST without CSRF", "POST", "", false, 403},
		{"cookie POST with CSRF, rebound Host", "POST", "127.0.0.1.nip.io:" + base.Port(), true, 403},
		{"cookie POST with CSRF", "POST", "", true, 200},
	} {
		if got := request(tt.method, tt.host, tt.csrf); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	plain, err := http.Get(a.url + "/api/v1/id")
	if err != nil {
		t.Fatal(err)
	}
	plain.Body.Close()
	if plain.StatusCode != http.StatusUnauthorized {
		t.Errorf("no cookie, no token: %d, want 401", plain.StatusCode)
	}
}
