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
	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// writeWAV writes pcm as a 48 kHz mono WAV file.
func writeWAV(t *testing.T, path string, pcm []int16) {
	t.Helper()
	if err := audiotest.WriteWAV(path, pcm); err != nil {
		t.Fatal(err)
	}
}

// readWAV reads a WAV file back as 48 kHz mono.
func readWAV(t *testing.T, path string) []int16 {
	t.Helper()
	pcm, err := audiotest.ReadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

// fileSize is the size of the file at path, 0 if there is none yet.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// TestSpeakAndListenThroughTheCLI: a WAV spoken with `clubnode speak` on
// the host's node comes out of `clubnode listen` on another node.
func TestSpeakAndListenThroughTheCLI(t *testing.T) {
	a, b := initHome(t, "Alice"), initHome(t, "Bob")
	startDaemon(t, a)
	startDaemon(t, b)
	mustRun(t, a, "network", "create", "Night Owls")
	token := strings.TrimSpace(mustRun(t, a, "invite"))
	mustRun(t, b, "join", token)
	room := mustJSON[apiv1.RoomState](t, a, "room", "create", "--title", "Sound check").ID
	idB := mustJSON[apiv1.Identity](t, b, "id").PeerID
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, r := range mustJSON[[]apiv1.Room](t, b, "room", "list") {
			if r.ID == room {
				return nil
			}
		}
		return errors.New("Bob's hallway does not list the room yet")
	})

	// A listener on the slice of a second: the speaker starts once the
	// listener is in the room.
	dir := t.TempDir()
	in, out := filepath.Join(dir, "talk.wav"), filepath.Join(dir, "heard.wav")
	speech := audiotest.Speech(4*time.Second, 11)
	writeWAV(t, in, speech)
	// It records until told to stop (40 s at most): a slow start on a busy
	// machine cannot end the recording before the speech is over.
	listen := exec.Command(daemontest.MustBinary(t), "--home", b, "listen", room, "--output", out, "--duration", "40s")
	var listenErr bytes.Buffer
	listen.Stderr = &listenErr
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = listen.Process.Kill(); _ = listen.Wait() })
	testutil.Eventually(t, 10*time.Second, func() error {
		st := mustJSON[apiv1.RoomState](t, a, "room", "show", room)
		if !slices.Contains(st.Audience, idB) {
			return fmt.Errorf("Bob is not in the audience yet")
		}
		// ...and linked into the room's audio, so nothing said is missed.
		if st := mustJSON[apiv1.RoomState](t, b, "room", "show", room); st.Audio == nil || st.Audio.Parent == "" {
			return fmt.Errorf("Bob's node has no parent in the relay tree yet")
		}
		return nil
	})
	mustRun(t, a, "speak", room, "--input", in)
	// The last frame has left the speaker; it reaches the file through
	// listen's jitter buffer (1 s). Two more seconds of recording hold it,
	// however slowly the machine runs them.
	spoken := fileSize(out)
	testutil.Eventually(t, 30*time.Second, func() error {
		if got := fileSize(out) - spoken; got < 2*48000*2 {
			return fmt.Errorf("the recording grew %d bytes since the speaker ended, want 2 s (192000)", got)
		}
		return nil
	})
	_ = listen.Process.Signal(os.Interrupt)
	if err := listen.Wait(); err != nil {
		t.Fatalf("listen: %v: %s", err, listenErr.String())
	}
	heard := readWAV(t, out)
	corr, lag := audiotest.Match(speech, heard, 8*time.Second)
	t.Logf("CLI speak → listen: correlation %.3f (speech starts %v into the recording); listen: %s",
		corr, lag.Round(time.Millisecond), strings.TrimSpace(listenErr.String()))
	if corr < audiotest.MatchThreshold {
		t.Fatalf("recording matches the spoken file only %.2f (threshold %.2f); loudness every 100 ms:\n sent %s\nheard %s",
			corr, audiotest.MatchThreshold, loudness(speech), loudness(heard))
	}

	// Someone not on stage is refused, with a reason.
	if _, err := clubnode(b, "speak", room, "--input", in); err == nil || !strings.Contains(err.Error(), "not on stage") {
		t.Fatalf("a listener speaking: %v", err)
	}
}
