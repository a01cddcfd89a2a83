package node

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// One room at a time (issue 12, item 6): a member who joins a second room
// leaves the first, through the API and through `clubnode room join`; a
// refused join leaves the member where it was.
func TestOneRoomAtATime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a := startUINode(t, "Alice")
	b := startUINode(t, "Bob")
	foundWithMember(ctx, t, a.Node, b.Node)
	first, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "First"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Second"})
	if err != nil {
		t.Fatal(err)
	}
	later, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Later", Start: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Bob joins First first: wait for it too, or on a loaded machine its
	// announcement may not have reached him yet ("not in this node's
	// hallway").
	lists(t, b.Node, first.ID, true)
	lists(t, b.Node, later.ID, true)
	lists(t, b.Node, second.ID, true)
	if _, err := b.RoomAction(ctx, first.ID, apiv1.ActionJoin, apiv1.RoomActionRequest{}); err != nil {
		t.Fatal(err)
	}
	out, err := b.RoomAction(ctx, second.ID, apiv1.ActionJoin, apiv1.RoomActionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if left := out.(apiv1.RoomState).Left; !slices.Equal(left, []string{first.ID}) {
		t.Errorf("joining the second room left %v, want the first", left)
	}
	inRoomOnA(t, a, first.ID, b.ID().String(), false)
	inRoomOnA(t, a, second.ID, b.ID().String(), true)

	// A join the host refuses (the room has not started) changes nothing.
	if _, err := b.RoomAction(ctx, later.ID, apiv1.ActionJoin, apiv1.RoomActionRequest{}); err == nil {
		t.Fatal("joined a scheduled room")
	}
	inRoomOnA(t, a, second.ID, b.ID().String(), true)

	// The command line: `room join` of the first room leaves the second.
	cli := buildCLI(t)
	cmd := exec.CommandContext(ctx, cli, "--home", b.cfg.Home.Dir, "room", "join", first.ID)
	if outText, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clubnode room join: %v\n%s", err, outText)
	}
	inRoomOnA(t, a, second.ID, b.ID().String(), false)
	inRoomOnA(t, a, first.ID, b.ID().String(), true)
}

// inRoomOnA waits until the host's view of room has peer in it, or not.
func inRoomOnA(t *testing.T, a *uiNode, room, peer string, want bool) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		st, err := a.Room(context.Background(), room)
		if err != nil {
			return err
		}
		in := slices.Contains(st.Audience, peer) || slices.ContainsFunc(st.Stage, func(s apiv1.RoomSpeaker) bool { return s.PeerID == peer })
		if in != want {
			return fmt.Errorf("room %s lists %s: %v, want %v", st.Title, peer, in, want)
		}
		return nil
	})
}
