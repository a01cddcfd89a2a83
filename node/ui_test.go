package node

import (
	"context"
	"errors"
	"fmt"
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
)

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
	l.waitFor(t, from, d)
	return l.stopAndRead(t, from)
}

// waitFor waits until the recording holds d of audio past sample from.
func (l *listenRun) waitFor(t *testing.T, from int, d time.Duration) {
	t.Helper()
	want := from + int(d/audio.FrameDuration)*audio.FrameSamples
	testutil.Eventually(t, d+30*time.Second, func() error {
		if got := l.samples(); got < want {
			return fmt.Errorf("the recording holds %d samples, want %d", got, want)
		}
		return nil
	})
}

// stopAndRead stops the recording with Ctrl-C and returns what it holds
// from sample from.
func (l *listenRun) stopAndRead(t *testing.T, from int) []int16 {
	t.Helper()
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
