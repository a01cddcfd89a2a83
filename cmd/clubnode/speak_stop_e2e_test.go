package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/internal/testutil"
)

// startSpeak runs `clubnode speak` with a minute of speech in the
// background, and returns a channel with its exit and its stderr.
func startSpeak(t *testing.T, home, room string) (<-chan error, *testutil.LockedBuffer) {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "speech.wav")
	writeWAV(t, wav, audiotest.Speech(60*time.Second, 3))
	cmd := exec.Command(daemontest.MustBinary(t), "--home", home, "speak", room, "--input", wav)
	stderr := &testutil.LockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		done <- cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return done, stderr
}

// waitSpeakStop waits for speak to stop by itself, with a non-zero exit and
// a message that says why.
func waitSpeakStop(t *testing.T, done <-chan error, stderr *testutil.LockedBuffer, want string) {
	t.Helper()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("speak exited 0; stderr: %s", stderr)
		}
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("speak's stderr %q does not say %q", stderr, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("speak still runs; stderr so far: %s", stderr)
	}
}

// TestSpeakStopsWhenTheRoomEnds: issue 12 item 5, the room ends.
func TestSpeakStopsWhenTheRoomEnds(t *testing.T) {
	a := initHome(t, "Alice")
	startDaemon(t, a)
	mustRun(t, a, "network", "create", "Night Owls")
	room := strings.Fields(mustRun(t, a, "room", "create", "--title", "Short one"))
	id := room[len(room)-1]
	done, stderr := startSpeak(t, a, id)
	waitSpeaking(t, stderr, done)
	mustRun(t, a, "room", "end", id)
	waitSpeakStop(t, done, stderr, "stopped speaking")
	t.Logf("speak said: %s", strings.TrimSpace(stderr.String()))
}

// TestSpeakStopsWhenMovedOffStage: issue 12 item 5, a moderator moves
// the speaker to the audience.
func TestSpeakStopsWhenMovedOffStage(t *testing.T) {
	homes, _, ids, room := roomOf(t, plainDaemon, "Alice", "Bob")
	promote(t, homes[0], homes[1], ids[1], room, false)
	done, stderr := startSpeak(t, homes[1], room)
	waitSpeaking(t, stderr, done)
	mustRun(t, homes[0], "room", "move-to-audience", room, "Bob")
	waitSpeakStop(t, done, stderr, "no longer on the stage")
	t.Logf("speak said: %s", strings.TrimSpace(stderr.String()))
}

// waitSpeaking waits until speak says it is speaking.
func waitSpeaking(t *testing.T, stderr *testutil.LockedBuffer, done <-chan error) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(stderr.String(), "speaking into ") {
		select {
		case err := <-done:
			t.Fatalf("speak ended before it spoke: %v %s", err, stderr)
		case <-deadline:
			t.Fatalf("speak has not started: %s", stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestSpeakRefusalReadsAsTheDaemonSaysIt: a listener's speak is refused
// with the daemon's own sentence, not an HTTP status and escaped JSON;
// under --json it is a JSON error with a code.
func TestSpeakRefusalReadsAsTheDaemonSaysIt(t *testing.T) {
	homes, _, _, room := roomOf(t, plainDaemon, "Alice", "Bob")
	wav := filepath.Join(t.TempDir(), "speech.wav")
	writeWAV(t, wav, audiotest.Speech(time.Second, 3))
	_, errOut, err := runSplit(t, homes[1], "speak", room[:12], "--input", wav)
	if err == nil || !strings.Contains(errOut, "clubnode: speak in "+room+": not allowed: you are not on stage") {
		t.Fatalf("speak as a listener: %v %q", err, errOut)
	}
	for _, raw := range []string{"403", "HTTP", `\"`, "{"} {
		if strings.Contains(errOut, raw) {
			t.Errorf("the refusal %q shows %s", errOut, raw)
		}
	}
	_, errOut, _ = runSplit(t, homes[1], "speak", room, "--input", wav, "--json")
	if !strings.Contains(errOut, `"code":"not_allowed"`) {
		t.Errorf("--json refusal: %q", errOut)
	}
}
