package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// e2eAnnounce is the room announce interval of these daemons: moderators
// take over after two of it (1 s, shorter than the 2 s default), hallways
// forget a room three of it and a HostTimeout after its last announcement.
const e2eAnnounce = 500 * time.Millisecond

// startRoomDaemon is startDaemon with a short room announce interval.
func startRoomDaemon(t *testing.T, dir string) *daemon {
	t.Helper()
	return daemontest.Start(t, daemontest.Local, dir, daemontest.Options{
		Extra: []string{"--room-announce-interval", e2eAnnounce.String()}})
}

// hallway is what `room list --json` shows on home, by room ID.
func hallway(t *testing.T, home string) map[string]apiv1.Room {
	t.Helper()
	out := map[string]apiv1.Room{}
	for _, r := range mustJSON[[]apiv1.Room](t, home, "room", "list") {
		out[r.ID] = r
	}
	return out
}

// roomShow is `room show ROOM --json` on home, or the command's error.
func roomShow(home, room string) (apiv1.RoomState, error) {
	var st apiv1.RoomState
	out, err := clubnode(home, "room", "show", room, "--json")
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(out), &st)
}

// Real daemons: the host is SIGKILLed mid-room and its moderator takes
// over; a listener sees the new host and every hallway keeps the room.
// Then the new host, the last moderator, is killed too: the room leaves
// every hallway within the expiry and the listener lets go of it.
func TestRoomSurvivesHostSIGKILL(t *testing.T) {
	a, b, c, d := initHome(t, "Alice"), initHome(t, "Bob"), initHome(t, "Carol"), initHome(t, "Dave")
	da, db := startRoomDaemon(t, a), startRoomDaemon(t, b)
	startRoomDaemon(t, c)
	startRoomDaemon(t, d)
	room, idB := openRoomWithModerator(t, a, b, c, d)

	killed := time.Now()
	da.Kill()
	waitTakeover(t, c, d, room, idB, killed)

	// Bob was the last moderator.
	killed = time.Now()
	db.Kill()
	for _, h := range []string{c, d} {
		testutil.Eventually(t, 10*time.Second, func() error {
			if _, ok := hallway(t, h)[room]; ok {
				return fmt.Errorf("%s's hallway still lists the room", h)
			}
			return nil
		})
	}
	t.Logf("no moderator left: the room left every hallway %s after the last host's SIGKILL", time.Since(killed))
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, err := roomShow(c, room); err == nil {
			return fmt.Errorf("the listener still shows the room")
		}
		return nil
	})
}

// openRoomWithModerator has a found a network that b, c and d join,
// open a room that b and c join, and make b a moderator on its stage.
func openRoomWithModerator(t *testing.T, a, b, c, d string) (room, idB string) {
	t.Helper()
	mustRun(t, a, "network", "create", "Night Owls")
	token := strings.TrimSpace(mustRun(t, a, "invite", "--uses", "3"))
	for _, h := range []string{b, c, d} {
		mustRun(t, h, "join", token)
	}
	idB = mustJSON[apiv1.Identity](t, b, "id").PeerID
	room = mustJSON[apiv1.RoomState](t, a, "room", "create", "--title", "Survivors").ID
	for _, h := range []string{b, c, d} {
		testutil.Eventually(t, 20*time.Second, func() error {
			if _, ok := hallway(t, h)[room]; !ok {
				return fmt.Errorf("%s's hallway does not list the room yet", h)
			}
			return nil
		})
	}
	mustRun(t, b, "room", "join", room)
	mustRun(t, c, "room", "join", room)
	mustRun(t, a, "room", "invite-speaker", room, idB)
	mustRun(t, b, "room", "accept", room)
	mustRun(t, a, "room", "make-moderator", room, idB)
	testutil.Eventually(t, 10*time.Second, func() error {
		st, err := roomShow(c, room)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(st.Stage, func(s apiv1.RoomSpeaker) bool { return s.PeerID == idB && s.Moderator }) {
			return fmt.Errorf("the listener does not see Bob as moderator yet")
		}
		return nil
	})

	return room, idB
}

// waitTakeover waits until Bob (idB) hosts the room for the listener c
// and for d, who is not in it, and d's hallway lists it all through.
func waitTakeover(t *testing.T, c, d, room, idB string, killed time.Time) {
	t.Helper()
	// Dave, who is not in the room, keeps it listed all through the
	// takeover: the successor announces before hallways forget the room.
	testutil.Eventually(t, 20*time.Second, func() error {
		r, ok := hallway(t, d)[room]
		if !ok {
			t.Fatalf("the room left Dave's hallway %s after the host's SIGKILL", time.Since(killed))
		}
		if r.Host != idB {
			return fmt.Errorf("Dave's hallway lists the room under %s, not Bob", r.Host)
		}
		return nil
	})
	t.Logf("takeover: Dave's hallway lists the room under the new host %s after the host's SIGKILL", time.Since(killed))
	testutil.Eventually(t, 20*time.Second, func() error {
		st, err := roomShow(c, room)
		if err != nil {
			return err
		}
		if st.Host != idB {
			return fmt.Errorf("the listener sees host %s, not Bob", st.Host)
		}
		return nil
	})
	t.Logf("takeover: the listener's room show names the new host %s after the host's SIGKILL", time.Since(killed))
	if r, ok := hallway(t, c)[room]; !ok || r.Host != idB {
		t.Fatalf("the listener's hallway does not list the room under Bob: %+v", r)
	}

}
