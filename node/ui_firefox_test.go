package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/bidi"
	"github.com/clubnode/clubnode/node/apiv1"
)

// TestWebUIFirefox walks the app in Debian's Firefox ESR (over WebDriver
// BiDi), as Bob on his own node: first run with Alice's invite, the live
// hallway, a room opened with the keyboard, its sound and Alice's ring
// (Alice speaks with `clubnode speak`), the hand, "Join the stage?", and
// Firefox's microphone reaching the room, recorded with `clubnode listen`
// on Alice's node. Firefox's fake microphone is a 1 kHz tone (it cannot
// play a file), so the recording is checked for that tone.
func TestWebUIFirefox(t *testing.T) {
	checkLeaks(t)
	if _, err := os.Stat(bidi.DefaultBinary); err != nil {
		t.Skipf("needs Debian's firefox-esr at %s (scripts/install-deps.sh installs it): %v", bidi.DefaultBinary, err)
	}
	shots := screenshotDir(t)
	cli := buildCLI(t)
	a, b := startUINode(t, "Alice"), startUINode(t, "Bob")
	ctx := context.Background()
	if _, err := a.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	inv, err := a.CreateInvite(ctx, apiv1.CreateInviteRequest{Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	ff := startFirefox(t)
	idA, idB := a.ID().String(), b.ID().String()

	ffFirstRun(t, ff, b, inv.Token)

	// Bob turns notifications on and follows Alice; Alice opens a room
	// and speaks into it from the command line.
	enableNotifications(t, ff, b, a)
	room, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Firefox night"})
	if err != nil {
		t.Fatal(err)
	}
	ff.waitFor(t, "the notification", `(window.clubnodeMetrics.notifications || []).some((n) => n.title === 'Alice started a room' && n.body === 'Firefox night')`)
	voice := filepath.Join(t.TempDir(), "alice.wav")
	if err := audiotest.WriteWAV(voice, audiotest.Speech(60*time.Second, 9)); err != nil {
		t.Fatal(err)
	}
	speak := startCLI(t, cli, a, "speak", room.ID, "--input", voice)

	ffOpensRoom(t, ff, shots, room.ID, idA)
	b = checkSoundAfterRestart(t, ff, b)

	ffTakesTheStage(t, ff, a, room.ID, idB, speak)

	// Alice's node hears Bob's microphone: her own voice is not in what
	// her node plays her, so the recording is Bob's tone alone.
	heard := startListen(t, cli, a, room.ID).record(t, 0, listenDelay+3*time.Second)
	level, toneShare := toneIn(heard, 1000)
	t.Logf("Alice's recording of Firefox's microphone: RMS %.3f, %.0f%% of it a 1 kHz tone", level, 100*toneShare)
	if level < 0.01 || toneShare < 0.5 {
		t.Errorf("Alice's recording: RMS %.3f, 1 kHz share %.2f; want Firefox's tone (RMS >= 0.01, share >= 0.5)", level, toneShare)
	}

	// Phone width.
	ff.do(t, "phone width", func(ctx context.Context) error { return ff.SetViewport(ctx, 390, 844) })
	ff.waitFor(t, "the phone layout", `getComputedStyle(document.querySelector('.controls')).position === 'fixed'`)
	ff.screenshot(t, shots, "firefox-room-phone.png")
	ff.checkAccessibleNames(t, "room (speaker)")
	checkModerationNotices(t, ff, a, b, room.ID)
	ff.screenshot(t, shots, "firefox-notices.png")
	ff.checkNoPageErrors(t)
}

// ffFirstRun: Bob signs in to his node in Firefox, types his name and
// pastes the invite, and joins the network.
func ffFirstRun(t *testing.T, ff *firefox, b *uiNode, token string) {
	t.Helper()
	// First run in Firefox: Bob's name, typed, and the invite, pasted.
	ff.do(t, "B signs in", func(ctx context.Context) error { return ff.Navigate(ctx, b.loginURL(t)) })
	ff.waitFor(t, "the first-run view", `document.querySelector('#join-button')`)
	ff.checkAccessibleNames(t, "first run")
	ff.do(t, "B types a name", func(ctx context.Context) error {
		if err := ff.Click(ctx, "#me-name"); err != nil {
			return err
		}
		if err := ff.Eval(ctx, `document.querySelector('#me-name').select()`, nil); err != nil {
			return err
		}
		return ff.Press(ctx, "Bob")
	})
	ff.do(t, "B pastes the invite", func(ctx context.Context) error {
		return ff.Eval(ctx, fmt.Sprintf(`(() => { const el = document.querySelector('#invite-token');
			el.value = %q; el.dispatchEvent(new Event('input', {bubbles: true})); })()`, token), nil)
	})
	ff.waitFor(t, "who invites B to which network", contains(textOf("#invite-preview"), "Alice invites you to Night Owls"))
	ff.do(t, "B joins", func(ctx context.Context) error { return ff.Click(ctx, "#join-button") })
	ff.waitFor(t, "B's hallway", contains(textOf("h1"), "Hallway"))

}

// ffOpensRoom: Bob finds the room in his hallway, opens it with the
// keyboard alone, joins and hears Alice speak.
func ffOpensRoom(t *testing.T, ff *firefox, shots, room, idA string) {
	t.Helper()
	// Bob finds it in the hallway and opens it with the keyboard alone.
	card := fmt.Sprintf(`#live-rooms a[data-room=%s]`, sel(room))
	ff.waitFor(t, "the room in the hallway", fmt.Sprintf(`document.querySelector(%s)`, sel(card))+` && `+contains(textOf(card), "Alice"))
	ff.screenshot(t, shots, "firefox-hallway.png")
	ff.checkAccessibleNames(t, "hallway")
	ff.do(t, "B opens the room with Enter", func(ctx context.Context) error {
		if err := ff.Eval(ctx, fmt.Sprintf(`document.querySelector(%s).focus()`, sel(card)), nil); err != nil {
			return err
		}
		return ff.Press(ctx, bidi.Enter)
	})
	ff.waitFor(t, "the join button", `document.querySelector('#join-room')`)
	ff.do(t, "B joins the room", func(ctx context.Context) error { return ff.Click(ctx, "#join-room") })
	ff.waitFor(t, "B in the room", `!document.querySelector('#hand-button')?.hidden`)
	ff.waitFor(t, "B hears the room", `window.clubnodeMetrics.firstSoundMs !== undefined`)
	var firstSound int
	ff.eval(t, `window.clubnodeMetrics.firstSoundMs`, &firstSound)
	t.Logf("from opening the room to its first sound in Firefox: %d ms", firstSound)
	ff.waitFor(t, "the ring on Alice, who speaks", fmt.Sprintf(`document.querySelector('#stage [data-peer=%s]')?.classList.contains('speaking')`, sel(idA)))
	ff.screenshot(t, shots, "firefox-room.png")
	ff.checkAccessibleNames(t, "room (listener)")
}

// ffTakesTheStage: Bob raises a hand; Alice stops speaking and invites
// him; he accepts and unmutes, and his microphone opens.
func ffTakesTheStage(t *testing.T, ff *firefox, a *uiNode, room, idB string, speak *cliRun) {
	t.Helper()
	ctx := context.Background()
	// Hand up; Alice (who stops talking) invites Bob; Bob accepts and
	// unmutes.
	ff.do(t, "B raises a hand", func(ctx context.Context) error { return ff.Click(ctx, "#hand-button") })
	ff.waitFor(t, "B's hand up", `document.querySelector('#hand-button').getAttribute('aria-pressed') === 'true'`)
	speak.stop(t)
	if _, err := a.RoomAction(ctx, room, apiv1.ActionInviteSpeaker, apiv1.RoomActionRequest{Peer: idB}); err != nil {
		t.Fatal(err)
	}
	ff.waitFor(t, "Join the stage?", `!document.querySelector('.invite-prompt').hidden`)
	ff.do(t, "B accepts", func(ctx context.Context) error { return ff.Click(ctx, "#accept-invite") })
	ff.waitFor(t, "B on stage, muted", fmt.Sprintf(`document.querySelector('#stage [data-peer=%s] .badge.muted')`, sel(idB)))
	ff.do(t, "B unmutes", func(ctx context.Context) error { return ff.Click(ctx, "#mic-button") })
	ff.waitFor(t, "B unmuted", fmt.Sprintf(`document.querySelector('#stage [data-peer=%s]') && !document.querySelector('#stage [data-peer=%s] .badge.muted')`, sel(idB), sel(idB)))
	ff.waitFor(t, "B's microphone open", `window.clubnodeMetrics.microphone`)

}

// toneIn measures pcm's RMS (of full scale) and how much of its power is
// a tone at freq Hz (Goertzel over 100 ms blocks, the tone's power over
// all power). Opus and the jitter buffer keep a steady tone's frequency.
func toneIn(pcm []int16, freq float64) (rms, share float64) {
	const rate, block = 48000, 4800
	var total, tone float64
	coeff := 2 * math.Cos(2*math.Pi*freq/rate)
	for off := 0; off+block <= len(pcm); off += block {
		var s1, s2, energy float64
		for _, v := range pcm[off : off+block] {
			x := float64(v) / 32768
			energy += x * x
			s1, s2 = x+coeff*s1-s2, s1
		}
		power := s1*s1 + s2*s2 - coeff*s1*s2 // |X(freq)|^2
		tone += 2 * power / block            // a sine of amplitude A: A²N/4 → A²/2 · N
		total += energy
	}
	if total == 0 {
		return 0, 0
	}
	return math.Sqrt(total / float64(len(pcm))), tone / total
}

// firefox is a headless Firefox ESR driven over WebDriver BiDi, with the
// test's helpers: the same waits and checks as the Chromium tests'.
type firefox struct {
	*bidi.Browser
}

func startFirefox(t *testing.T) *firefox {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := bidi.Launch(ctx, bidi.Options{ProfileDir: t.TempDir(), Prefs: map[string]any{
		// A fake microphone (a tone) without a permission prompt, and
		// sound that plays without a click.
		"media.navigator.streams.fake":                      true,
		"media.navigator.permission.disabled":               true,
		"media.autoplay.default":                            0,
		"media.autoplay.block-webaudio":                     false,
		"media.peerconnection.ice.loopback":                 true,
		"media.peerconnection.ice.obfuscate_host_addresses": false,
		// No sound card: without a mock audio backend an AudioContext
		// never starts (the microphone meter would stay at zero).
		"media.cubeb.force_mock_context": true,
		// Notifications allowed, as if the user had said yes.
		"permissions.default.desktop-notification": 1,
	}})
	if err != nil {
		t.Fatalf("start firefox: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close firefox: %v", err)
		}
	})
	ff := &firefox{b}
	ff.do(t, "preload the error collector", func(ctx context.Context) error { return ff.Preload(ctx, errorCollector) })
	ff.do(t, "laptop width", func(ctx context.Context) error { return ff.SetViewport(ctx, 1280, 820) })
	return ff
}

// do runs one step with a deadline, failing the test with what was being
// done and what the page said.
func (ff *firefox) do(t *testing.T, what string, step func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := step(ctx); err != nil {
		t.Fatalf("%s: %v\npage errors: %v", what, err, ff.pageErrors())
	}
}

func (ff *firefox) eval(t *testing.T, expr string, out any) {
	t.Helper()
	ff.do(t, "evaluate "+expr, func(ctx context.Context) error { return ff.Eval(ctx, expr, out) })
}

// waitFor waits until a JavaScript expression is truthy.
func (ff *firefox) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var ok bool
		err := ff.Eval(ctx, "!!("+expr+")", &ok)
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(25 * time.Millisecond)
	}
	var main, alerts string
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ff.Eval(ctx, `document.querySelector('main')?.innerText || document.body.innerText`, &main)
	ff.Eval(ctx, `document.getElementById('alerts')?.innerText || ''`, &alerts)
	t.Fatalf("waiting for %s (%s) in Firefox: not true within 15 s (last error: %v)\nmain: %s\nalerts: %s\npage errors: %v",
		what, expr, last, main, alerts, ff.pageErrors())
}

func (ff *firefox) pageErrors() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []string
	if err := ff.Eval(ctx, `window.__testErrors || []`, &errs); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return []string{"(could not read: " + err.Error() + ")"}
	}
	return errs
}

func (ff *firefox) checkNoPageErrors(t *testing.T) {
	t.Helper()
	if errs := ff.pageErrors(); len(errs) > 0 {
		t.Errorf("Firefox's page had errors: %v", errs)
	}
}

func (ff *firefox) checkAccessibleNames(t *testing.T, where string) {
	t.Helper()
	var bad []string
	ff.eval(t, unnamedControls, &bad)
	if len(bad) > 0 {
		t.Errorf("%s in Firefox: controls without an accessible name: %v", where, bad)
	}
}

func (ff *firefox) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	var png []byte
	ff.do(t, "screenshot "+name, func(ctx context.Context) (err error) {
		png, err = ff.Screenshot(ctx)
		return err
	})
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
