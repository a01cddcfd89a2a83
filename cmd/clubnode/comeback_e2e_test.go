package main

import (
	"bytes"
	"fmt"
	"math"
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

// plainDaemon is startDaemon at default settings.
func plainDaemon(t *testing.T, home string) *daemon { return startDaemon(t, home) }

// roomOf sets up a network of homes (the first founds it, the others
// join) and a room the first hosts that the others have joined.
func roomOf(t *testing.T, start func(*testing.T, string) *daemon, names ...string) (homes []string, ds []*daemon, ids []string, room string) {
	t.Helper()
	for _, name := range names {
		h := initHome(t, name)
		homes = append(homes, h)
		ds = append(ds, start(t, h))
	}
	mustRun(t, homes[0], "network", "create", "Night Owls")
	token := strings.TrimSpace(mustRun(t, homes[0], "invite", "--uses", "10"))
	for _, h := range homes[1:] {
		mustRun(t, h, "join", token)
	}
	for _, h := range homes {
		ids = append(ids, mustJSON[apiv1.Identity](t, h, "id").PeerID)
	}
	room = mustJSON[apiv1.RoomState](t, homes[0], "room", "create", "--title", "Comebacks").ID
	for _, h := range homes[1:] {
		testutil.Eventually(t, 20*time.Second, func() error {
			if _, ok := hallway(t, h)[room]; !ok {
				return fmt.Errorf("%s's hallway does not list the room yet", h)
			}
			return nil
		})
		mustRun(t, h, "room", "join", room)
	}
	return homes, ds, ids, room
}

// promote brings home i on stage as a moderator (or just a speaker).
func promote(t *testing.T, host, home, id, room string, moderator bool) {
	t.Helper()
	mustRun(t, host, "room", "invite-speaker", room, id)
	mustRun(t, home, "room", "accept", room)
	if moderator {
		mustRun(t, host, "room", "make-moderator", room, id)
	}
}

func inRoom(home, room string) error {
	st, err := roomShow(home, room)
	if err != nil {
		return err
	}
	if st.Role == "" || st.Role == "none" {
		return fmt.Errorf("%s's node holds the room but is not in it", home)
	}
	return nil
}

// A member whose daemon is killed mid-room comes back by itself: the
// restarted node goes back into the room without anyone typing anything,
// and `room join` works at once too (no "already in the room").
func TestMemberComesBackAfterSIGKILL(t *testing.T) {
	homes, ds, _, room := roomOf(t, plainDaemon, "Alice", "Bob")
	bob := homes[1]
	ds[1].Kill()
	restarted := time.Now()
	startDaemon(t, bob)
	testutil.Eventually(t, 30*time.Second, func() error { return inRoom(bob, room) })
	t.Logf("Bob's node was back in the room %s after its restart, by itself", time.Since(restarted).Round(time.Millisecond))
	// And asking again is fine: the host lists Bob, and answers with the room.
	if out, err := clubnode(bob, "room", "join", room); err != nil {
		t.Fatalf("room join after coming back: %v (%s)", err, out)
	}
}

// The host's daemon is killed, its moderator takes over; the old host,
// restarted, is back in the room as what the new state says it is (a
// moderator), and can leave it.
func TestOldHostComesBackAsModerator(t *testing.T) {
	homes, ds, ids, room := roomOf(t, startRoomDaemon, "Alice", "Bob", "Carol")
	alice, bob := homes[0], homes[1]
	promote(t, alice, bob, ids[1], room, true)
	testutil.Eventually(t, 10*time.Second, func() error {
		if st, err := roomShow(homes[2], room); err != nil || !slices.ContainsFunc(st.Stage, func(s apiv1.RoomSpeaker) bool { return s.PeerID == ids[1] && s.Moderator }) {
			return fmt.Errorf("Carol does not see Bob as a moderator yet (%v)", err)
		}
		return nil
	})
	ds[0].Kill()
	testutil.Eventually(t, 20*time.Second, func() error {
		if st, err := roomShow(homes[2], room); err != nil || st.Host != ids[1] {
			return fmt.Errorf("Carol does not see Bob hosting yet (%v)", err)
		}
		return nil
	})
	back := time.Now()
	startRoomDaemon(t, alice)
	testutil.Eventually(t, 30*time.Second, func() error {
		st, err := roomShow(alice, room)
		if err != nil {
			return err
		}
		if st.Host != ids[1] || st.Role != "moderator" {
			return fmt.Errorf("Alice's node shows host %s and her as %q", st.Host, st.Role)
		}
		return nil
	})
	t.Logf("the old host was back in its room as a moderator %s after its restart", time.Since(back).Round(time.Millisecond))
	mustRun(t, alice, "room", "leave", room)
	testutil.Eventually(t, 10*time.Second, func() error {
		if st, err := roomShow(homes[2], room); err != nil || slices.ContainsFunc(st.Stage, func(s apiv1.RoomSpeaker) bool { return s.PeerID == ids[0] }) {
			return fmt.Errorf("Alice is still on Carol's stage (%v)", err)
		}
		return nil
	})
}

// At default settings, the host's daemon is killed while a speaker talks:
// the moderator takes over, the tree moves under it, and a listener's
// recording of the speaker (a tone, so that any silence is a dropout) has
// no gap longer than 3 s.
func TestTakeoverSilenceAtDefaults(t *testing.T) {
	homes, ds, ids, room := roomOf(t, plainDaemon, "Alice", "Bob", "Sam", "Lee")
	alice, bob, sam, lee := homes[0], homes[1], homes[2], homes[3]
	promote(t, alice, bob, ids[1], room, true)
	promote(t, alice, sam, ids[2], room, false)
	testutil.Eventually(t, 10*time.Second, func() error {
		st, err := roomShow(lee, room)
		if err != nil || !slices.ContainsFunc(st.Stage, func(s apiv1.RoomSpeaker) bool { return s.PeerID == ids[1] && s.Moderator }) {
			return fmt.Errorf("Lee does not see Bob as a moderator yet (%v)", err)
		}
		if mine, _ := roomShow(lee, room); mine.Audio == nil || mine.Audio.Parent == "" {
			return fmt.Errorf("Lee's node has no parent in the tree yet")
		}
		return nil
	})

	dir := t.TempDir()
	in, out := filepath.Join(dir, "tone.wav"), filepath.Join(dir, "heard.wav")
	writeWAV(t, in, audiotest.Tone(440, 16*time.Second))
	listen := exec.Command(daemontest.MustBinary(t), "--home", lee, "listen", room, "--output", out, "--duration", "14s",
		"--delay", "60ms") // a live listener's buffer: the gap measured is the one a listener hears
	var listenErr bytes.Buffer
	listen.Stderr = &listenErr
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = listen.Process.Kill(); _ = listen.Wait() })
	speak := exec.Command(daemontest.MustBinary(t), "--home", sam, "speak", room, "--input", in)
	var speakErr bytes.Buffer
	speak.Stderr = &speakErr
	if err := speak.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = speak.Process.Kill(); _ = speak.Wait() })
	started := time.Now()
	// Kill the host once Lee has heard Sam for a while.
	testutil.Eventually(t, 10*time.Second, func() error {
		st := mustJSON[apiv1.RoomState](t, sam, "room", "show", room)
		if slices.ContainsFunc(st.Stage, func(s apiv1.RoomSpeaker) bool { return s.PeerID == ids[2] && !s.Muted }) && time.Since(started) > 4*time.Second {
			return nil
		}
		return fmt.Errorf("Sam is not unmuted and talking yet")
	})
	killed := time.Now()
	ds[0].Kill()
	testutil.Eventually(t, 20*time.Second, func() error {
		if st, err := roomShow(lee, room); err != nil || st.Host != ids[1] {
			return fmt.Errorf("Lee does not see Bob hosting yet (%v)", err)
		}
		return nil
	})
	t.Logf("takeover at default settings: Lee's node names Bob as host %s after the host's SIGKILL", time.Since(killed).Round(time.Millisecond))
	if err := listen.Wait(); err != nil {
		t.Fatalf("listen: %v: %s", err, listenErr.String())
	}
	heard := readWAV(t, out)
	if rms := rmsOf(heard); rms < 2000 {
		t.Fatalf("Lee's recording does not hold the tone (RMS %.0f; the tone's is about 7700)", rms)
	}
	gap, at := audiotest.LongestGap(heard)
	t.Logf("longest silence in Lee's recording: %s, starting %s into it (the host was killed %s after the recording began)",
		gap, at.Round(10*time.Millisecond), killed.Sub(started).Round(100*time.Millisecond))
	if gap > 3*time.Second {
		t.Fatalf("Lee heard %s of silence across the takeover; the goal is at most 3 s", gap)
	}
}

func rmsOf(pcm []int16) float64 {
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(len(pcm), 1)))
}
