package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// A room created through the API shows up in another member's hallway,
// who joins and raises a hand; the host sees it.
func TestRoomThroughAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startTestNode(t, "a"), startTestNode(t, "b")
	if _, err := a.CreateNetwork(ctx, "Night Owls"); err != nil {
		t.Fatal(err)
	}
	inv, err := a.CreateInvite(ctx, apiv1.CreateInviteRequest{Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, inv.Token); err != nil {
		t.Fatal(err)
	}
	room, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Late-night Go"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		hall, err := b.Hallway()
		if err != nil {
			return err
		}
		for _, r := range hall {
			if r.ID == room.ID && r.Title == "Late-night Go" && r.Host == a.ID().String() {
				return nil
			}
		}
		return errors.New("B's hallway does not list the room")
	})
	if _, err := b.RoomAction(ctx, room.ID, apiv1.ActionJoin, apiv1.RoomActionRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RoomAction(ctx, room.ID, apiv1.ActionHandUp, apiv1.RoomActionRequest{}); err != nil {
		t.Fatal(err)
	}
	st, err := a.Room(room.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Hands) != 1 || st.Hands[0] != b.ID().String() || st.Role != "host" {
		t.Fatalf("host's view: %+v", st)
	}
	if _, err := b.RoomAction(ctx, room.ID, apiv1.ActionEnd, apiv1.RoomActionRequest{}); err == nil {
		t.Fatal("a listener ended the room")
	}
	if _, err := b.RoomAction(ctx, room.ID, "dance", apiv1.RoomActionRequest{}); statusOf(err) != 404 {
		t.Fatalf("unknown action: %v", err)
	}
}
