package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// gstPython is Debian's Python, which has the GStreamer bindings (gi).
const gstPython = "/usr/bin/python3"

// needGStreamer skips the test when GStreamer's webrtcbin and its Python
// bindings are missing (scripts/install-deps.sh installs them; CI has
// them).
func needGStreamer(t *testing.T) {
	t.Helper()
	check := exec.Command(gstPython, "-c", `import gi
gi.require_version("Gst", "1.0"); gi.require_version("GstWebRTC", "1.0"); gi.require_version("GstSdp", "1.0")
from gi.repository import Gst
Gst.init(None)
for e in ("webrtcbin", "opusenc", "opusdec", "rtpopuspay", "rtpopusdepay", "wavparse", "wavenc", "nicesink"):
    assert Gst.ElementFactory.find(e), e`)
	if out, err := check.CombinedOutput(); err != nil {
		t.Skipf("GStreamer webrtcbin with Python bindings is not installed (scripts/install-deps.sh installs it): %v: %s",
			err, bytes.TrimSpace(out))
	}
}

type gstRun struct {
	cmd  *exec.Cmd
	out  *testutil.LockedBuffer
	done chan struct{} // closed when the client has exited, err set
	err  error
}

// startGst runs the webrtcbin client against a daemon's WHIP or WHEP URL.
func startGst(t *testing.T, dir, kind, room string, args ...string) *gstRun {
	t.Helper()
	addr, token, err := home.ReadAPIEndpoint(home.Home{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr + apiv1.MediaPath(room, kind)
	if kind == apiv1.WHEP {
		// A recorder: the node's mix rides out stalls upstream as the
		// script's own 1 s jitter buffer does, instead of dropping the
		// pauses of a backlog (which slid the speech against time).
		url += "?delay=1s"
	}
	script, err := filepath.Abs("testdata/gstwhip.py")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gstPython, append([]string{script, kind, url}, args...)...)
	cmd.Env = append(os.Environ(), "CLUBNODE_TOKEN="+token)
	r := &gstRun{cmd: cmd, out: &testutil.LockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = cmd.Wait(); close(r.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-r.done })
	return r
}

func (r *gstRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *gstRun) wait(t *testing.T, what string) string {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(90 * time.Second):
		t.Fatalf("%s still running after 90 s; its output:\n%s", what, r.out)
	}
	if r.err != nil {
		t.Fatalf("%s: %v; its output:\n%s", what, r.err, r.out)
	}
	return r.out.String()
}

// gstRoom is two daemons in one network and a room Alice hosts, which
// Bob's hallway lists.
func gstRoom(t *testing.T) (a, b, room string) {
	t.Helper()
	a, b = initHome(t, "Alice"), initHome(t, "Bob")
	startDaemon(t, a)
	startDaemon(t, b)
	mustRun(t, a, "network", "create", "Night Owls")
	mustRun(t, b, "join", strings.TrimSpace(mustRun(t, a, "invite")))
	room = mustJSON[apiv1.RoomState](t, a, "room", "create", "--title", "Native clients").ID
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, r := range mustJSON[[]apiv1.Room](t, b, "room", "list") {
			if r.ID == room {
				return nil
			}
		}
		return errors.New("Bob's hallway does not list the room yet")
	})
	return a, b, room
}

// TestGStreamerWHIPWHEP: GStreamer's webrtcbin speaks a WAV into a room
// through WHIP on the host's node, and records the room through WHEP on
// another node; the recording matches the WAV. Each WHIP variant a native
// client may send is tried: bundled, unbundled (simple-whip-client's
// default) and trickled over PATCH.
func TestGStreamerWHIPWHEP(t *testing.T) {
	needGStreamer(t)
	a, b, room := gstRoom(t)
	idB := mustJSON[apiv1.Identity](t, b, "id").PeerID
	// --loopback keeps libnice on 127.0.0.1; "lan" lets it gather the
	// machine's own addresses only, as it does by default (and OBS's
	// libjuice too), which the node must pair with.
	for i, variant := range [][]string{{"--loopback"}, {"--loopback", "--no-bundle"}, {"--loopback", "--trickle"}, {}} {
		name := strings.TrimPrefix(strings.Join(variant, " "), "--loopback")
		if name == "" && len(variant) == 1 {
			name = "bundle"
		} else if name == "" {
			name = "lan"
		}
		name = strings.TrimSpace(name)
		t.Run(strings.TrimPrefix(name, "--"), func(t *testing.T) {
			corr, speech, heard := gstSpeakAndRecord(t, a, b, room, idB, variant, int64(30+i))
			t.Logf("webrtcbin WHIP (%s) → relay → webrtcbin WHEP: correlation %.3f", name, corr)
			if corr < audiotest.MatchThreshold {
				t.Fatalf("recording matches the spoken file only %.2f (threshold %.2f); loudness every 100 ms:\n sent %s\nheard %s",
					corr, audiotest.MatchThreshold, loudness(speech), loudness(heard))
			}
		})
	}
}

// gstSpeakAndRecord records the room through WHEP on b while webrtcbin
// speaks a new WAV through WHIP on a, and compares the two.
func gstSpeakAndRecord(t *testing.T, a, b, room, idB string, variant []string, seed int64) (corr float64, speech, heard []int16) {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "talk.wav"), filepath.Join(dir, "heard.wav")
	speech = audiotest.Speech(4*time.Second, seed)
	writeWAV(t, in, speech)
	// The recorder runs until told to stop (40 s at most), so a slow
	// start on a busy machine cannot end it before the speech is over.
	listen := startGst(t, b, apiv1.WHEP, room, append([]string{out, "40"}, variant...)...)
	var waiting error
	testutil.Eventually(t, 30*time.Second, func() error {
		if listen.exited() {
			t.Fatalf("the WHEP client stopped (%v) while %v; its output:\n%s", listen.err, waiting, listen.out)
		}
		waiting = nil
		if !strings.Contains(listen.out.String(), "connected") {
			waiting = fmt.Errorf("the WHEP client has not connected: %s", listen.out)
		} else if st := mustJSON[apiv1.RoomState](t, a, "room", "show", room); !slices.Contains(st.Audience, idB) {
			waiting = errors.New("Bob is not in the audience yet")
		} else if st := mustJSON[apiv1.RoomState](t, b, "room", "show", room); st.Audio == nil || st.Audio.Parent == "" {
			waiting = errors.New("Bob's node has no parent in the relay tree yet")
		}
		return waiting
	})
	speak := startGst(t, a, apiv1.WHIP, room, append([]string{in}, variant...)...)
	t.Logf("WHIP client: %s", strings.Join(strings.Fields(speak.wait(t, "gstreamer WHIP")), " "))
	// The speech's last frame has left the speaker; it reaches the file
	// through the recorder's 1 s jitter buffer. Two more seconds of
	// recording hold it, however slowly the machine runs them.
	spoken := fileSize(out)
	testutil.Eventually(t, 30*time.Second, func() error {
		if got := fileSize(out) - spoken; got < 2*48000*2 {
			return fmt.Errorf("the recording grew %d bytes since the speaker ended, want 2 s (192000)", got)
		}
		return nil
	})
	listen.cmd.Process.Signal(os.Interrupt)
	t.Logf("WHEP client: %s", strings.Join(strings.Fields(listen.wait(t, "gstreamer WHEP")), " "))
	heard = readWAV(t, out)
	corr, _ = audiotest.Match(speech, heard, 8*time.Second)
	return corr, speech, heard
}

// loudness draws pcm's envelope, one character per 100 ms, for a failure
// message: where sound went missing or arrived garbled shows at a glance.
func loudness(pcm []int16) string {
	const levels = " .:-=+*#"
	var b strings.Builder
	for _, e := range audiotest.Envelope(pcm, 100*time.Millisecond) {
		i := int(e / 0.15 * float64(len(levels)-1))
		b.WriteByte(levels[min(max(i, 0), len(levels)-1)])
	}
	return b.String()
}
