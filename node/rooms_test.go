package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/rooms"
)

// A room created through the API shows up in another member's hallway,
// who joins and raises a hand; the host sees it.
func TestRoomThroughAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startTestNode(t, "a"), startTestNode(t, "b")
	foundWithMember(ctx, t, a, b)
	room, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Late-night Go"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		hall, err := b.Hallway(ctx)
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
	// The old name of raise-hand still works, and the answer says what
	// B may do next.
	out, err := b.RoomAction(ctx, room.ID, "hand-up", apiv1.RoomActionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if self := out.(apiv1.RoomState).Actions.Self; !slices.Equal(self, []string{apiv1.ActionLowerHand, apiv1.ActionLeave}) {
		t.Fatalf("B with a hand up may %v", self)
	}
	st, err := a.Room(ctx, room.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Hands) != 1 || st.Hands[0] != b.ID().String() || st.Role != "host" {
		t.Fatalf("host's view: %+v", st)
	}
	if got := st.Actions.Peers[b.ID().String()]; !slices.Equal(got, []string{apiv1.ActionInviteSpeaker, apiv1.ActionRemove}) {
		t.Fatalf("the host may do %v to a listener", got)
	}
	if _, err := b.RoomAction(ctx, room.ID, apiv1.ActionEnd, apiv1.RoomActionRequest{}); err == nil {
		t.Fatal("a listener ended the room")
	}
	if _, err := b.RoomAction(ctx, room.ID, "dance", apiv1.RoomActionRequest{}); statusOf(err) != 404 {
		t.Fatalf("unknown action: %v", err)
	}
}

// roomNodes starts a founder and two members of one network, with a short
// announce interval so hallways change quickly.
func roomNodes(t *testing.T, ctx context.Context) (a, b, c *Node) {
	t.Helper()
	a, b, c = startTestNode(t, "a"), startTestNode(t, "b"), startTestNode(t, "c")
	for _, n := range []*Node{a, b, c} {
		n.cfg.RoomAnnounceInterval = 300 * time.Millisecond // read when the node enters a network
	}
	if _, err := a.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	inv, err := a.CreateInvite(ctx, apiv1.CreateInviteRequest{Uses: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{b, c} {
		if _, err := n.Join(ctx, apiv1.JoinRequest{Token: inv.Token}); err != nil {
			t.Fatal(err)
		}
	}
	return a, b, c
}

// lists waits until n's hallway lists room (or, with want false, does not).
func lists(t *testing.T, n *Node, room string, want bool) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		hall, err := n.Hallway(context.Background())
		if err != nil {
			return err
		}
		found := slices.ContainsFunc(hall, func(r apiv1.Room) bool { return r.ID == room })
		if found != want {
			return fmt.Errorf("%s's hallway lists room %s: %v, want %v", n.ID(), room, found, want)
		}
		return nil
	})
}

// joinRefused waits until n's node has heard of room, so that its join
// reaches the host, and checks that the host refuses it.
func joinRefused(t *testing.T, ctx context.Context, n *Node, room, because string) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		_, err := n.RoomAction(ctx, room, apiv1.ActionJoin, apiv1.RoomActionRequest{})
		if err != nil && strings.Contains(err.Error(), "not in this node's hallway") {
			return err
		}
		refusedAPI(t, err, because)
		return nil
	})
}

func refusedAPI(t *testing.T, err error, because string) {
	t.Helper()
	if err == nil || statusOf(err) != 403 || !strings.Contains(err.Error(), because) {
		t.Fatalf("want a 403 saying %q, got %v", because, err)
	}
}

// Social rooms through the API: following someone lists the room in their
// hallway and lets them in; the others neither see it nor get in.
func TestSocialRoomThroughAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, c := roomNodes(t, ctx)
	if _, err := a.setFlag(ctx, prefFollows, apiv1.FollowRequest{Peer: b.ID().String(), On: true}); err != nil {
		t.Fatal(err)
	}
	room, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Friends", Type: "social"})
	if err != nil {
		t.Fatal(err)
	}
	lists(t, b, room.ID, true)
	if _, err := b.RoomAction(ctx, room.ID, apiv1.ActionJoin, apiv1.RoomActionRequest{}); err != nil {
		t.Fatal(err)
	}
	// Once c's node has heard of the room (its join reaches the host), c
	// still does not see it, and the host refuses it.
	joinRefused(t, ctx, c, room.ID, "does not follow")
	if hall, _ := c.Hallway(ctx); slices.ContainsFunc(hall, func(r apiv1.Room) bool { return r.ID == room.ID }) {
		t.Fatal("a member the host does not follow sees its social room")
	}
}

// Closed rooms through the API: the host's ticket reaches the holder's
// node, which lists the room, joins with it, and still lists the room after
// a restart; a moderator's block keeps a member out.
func TestClosedRoomTicketAndBlockThroughAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, c := roomNodes(t, ctx)
	room, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "By ticket", Type: "closed"})
	if err != nil {
		t.Fatal(err)
	}
	// The holder's node keeps a ticket only for a room it has heard of.
	var tk apiv1.RoomTicket
	testutil.Eventually(t, 15*time.Second, func() error {
		out, err := a.RoomAction(ctx, room.ID, apiv1.ActionTicket, apiv1.RoomActionRequest{Peer: b.ID().String()})
		if err != nil {
			return err
		}
		if tk = out.(apiv1.RoomTicket); !tk.Delivered {
			return fmt.Errorf("ticket not delivered: %s", tk.NotDelivered)
		}
		return nil
	})
	lists(t, b, room.ID, true)
	if _, err := b.RoomAction(ctx, room.ID, apiv1.ActionJoin, apiv1.RoomActionRequest{}); err != nil {
		t.Fatal(err)
	}
	joinRefused(t, ctx, c, room.ID, "has no ticket")

	// b becomes a moderator and blocks c: c's ticket no longer gets it in.
	for _, step := range []struct {
		n      *Node
		action string
		peer   string
	}{{a, apiv1.ActionInviteSpeaker, b.ID().String()}, {b, apiv1.ActionAccept, ""}, {a, apiv1.ActionMakeModerator, b.ID().String()}} {
		if _, err := step.n.RoomAction(ctx, room.ID, step.action, apiv1.RoomActionRequest{Peer: step.peer}); err != nil {
			t.Fatalf("%s: %v", step.action, err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		st, err := b.Room(ctx, room.ID)
		if err != nil || st.Role != "moderator" {
			return fmt.Errorf("b's role: %+v, %v", st.Role, err)
		}
		return nil
	})
	if _, err := b.setFlag(ctx, prefBlocks, apiv1.FollowRequest{Peer: c.ID().String(), On: true}); err != nil {
		t.Fatal(err)
	}
	out, err := a.RoomAction(ctx, room.ID, apiv1.ActionTicket, apiv1.RoomActionRequest{Peer: c.ID().String()})
	if err != nil || !out.(apiv1.RoomTicket).Delivered {
		t.Fatalf("ticket for c: %+v, %v", out, err)
	}
	_, err = c.RoomAction(ctx, room.ID, apiv1.ActionJoin, apiv1.RoomActionRequest{})
	refusedAPI(t, err, "a moderator of this room")

	// c's ticket survives a restart of its node. (Not b's: b is on the
	// stage, and speakers see their rooms with or without a ticket.)
	lists(t, c, room.ID, true)
	c.Close()
	c2, err := Start(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Close() })
	lists(t, c2, room.ID, true)
}

// TestPollDuringNetworkCreate: the web app's event stream polls the node
// while the node founds (or joins) a network, which is when its rooms
// service appears. Under -race this caught an unsynchronised write of it.
func TestPollDuringNetworkCreate(t *testing.T) {
	ctx := context.Background()
	a := startTestNode(t, "Alice")
	stop := make(chan struct{})
	polled := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				polled <- n
				return
			default:
			}
			_ = a.pollState(ctx)
			n++
		}
	}()
	if _, err := a.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, err := a.Hallway(ctx); err != nil {
			return err
		}
		return nil
	})
	close(stop)
	if n := <-polled; n == 0 {
		t.Fatal("the poller never ran")
	}
}

// Every request kind is an API action under its own name, and the old
// names still lead to the same kinds.
func TestActionNamesAreKindNames(t *testing.T) {
	for _, name := range []string{apiv1.ActionJoin, apiv1.ActionLeave, apiv1.ActionRaiseHand, apiv1.ActionLowerHand,
		apiv1.ActionInviteSpeaker, apiv1.ActionAcceptInvite, apiv1.ActionDeclineInvite, apiv1.ActionMoveToAudience,
		apiv1.ActionMute, apiv1.ActionUnmuteSelf, apiv1.ActionRemove, apiv1.ActionMakeModerator, apiv1.ActionStepDown, apiv1.ActionEnd} {
		k, err := actionKind(name)
		if err != nil || k.String() != name {
			t.Errorf("action %q is kind %v, %v", name, k, err)
		}
	}
	for old, now := range apiv1.ActionAliases {
		if k, err := actionKind(old); err != nil || k.String() != now {
			t.Errorf("old action %q is kind %v, %v; want %s", old, k, err, now)
		}
	}
}

// A host that leaves hands the room to its moderator, who signs the
// handover; the listener sees the new host. (Before, the host's leave was
// refused "the host is leaving" whenever the room had a moderator.)
func TestHostLeaveHandsOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, c := roomNodes(t, ctx)
	room, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Handover"})
	if err != nil {
		t.Fatal(err)
	}
	lists(t, b, room.ID, true)
	lists(t, c, room.ID, true)
	idB := b.ID().String()
	for _, step := range []struct {
		n      *Node
		action string
		peer   string
	}{{b, apiv1.ActionJoin, ""}, {c, apiv1.ActionJoin, ""}, {a, apiv1.ActionInviteSpeaker, idB},
		{b, apiv1.ActionAcceptInvite, ""}, {a, apiv1.ActionMakeModerator, idB}} {
		if _, err := step.n.RoomAction(ctx, room.ID, step.action, apiv1.RoomActionRequest{Peer: step.peer}); err != nil {
			t.Fatalf("%s: %v", step.action, err)
		}
	}
	// The successor knows it is one before the host goes.
	testutil.Eventually(t, 10*time.Second, func() error {
		if st, err := b.Room(ctx, room.ID); err != nil || st.Role != "moderator" {
			return fmt.Errorf("b's role: %+v, %v", st.Role, err)
		}
		return nil
	})
	if _, err := a.RoomAction(ctx, room.ID, apiv1.ActionLeave, apiv1.RoomActionRequest{}); err != nil {
		t.Fatalf("the host's leave: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		st, err := c.Room(ctx, room.ID)
		if err != nil || st.Host != idB || st.Status != "live" {
			return fmt.Errorf("c's view after the host left: host %s status %s, %v", st.Host, st.Status, err)
		}
		return nil
	})
	if st, err := b.Room(ctx, room.ID); err != nil || st.Role != "host" {
		t.Fatalf("b after the handover: %+v, %v", st.Role, err)
	}
	if _, err := a.Room(ctx, room.ID); err == nil {
		t.Fatal("the old host is still in the room")
	}
	// The new host removes c: c's node knows it was removed, not that it
	// left, and the web app's event says so.
	if _, err := b.RoomAction(ctx, room.ID, apiv1.ActionRemove, apiv1.RoomActionRequest{Peer: c.ID().String()}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if !c.rooms.Load().Removed(rooms.RoomID(room.ID)) {
			return errors.New("c's node does not know it was removed")
		}
		return nil
	})
}

// The hallway puts first the rooms with the people one follows on their
// stage, then the rooms with more listeners (issue 16).
func TestHallwayRanksFollowedFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, c := roomNodes(t, ctx)
	quiet, err := b.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Quiet"})
	if err != nil {
		t.Fatal(err)
	}
	busy, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Busy"})
	if err != nil {
		t.Fatal(err)
	}
	// Both rooms are empty: by listeners and title, Busy would come first.
	lists(t, c, busy.ID, true)
	lists(t, c, quiet.ID, true)
	if _, err := c.Follow(ctx, apiv1.FollowRequest{Peer: b.ID().String(), On: true}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		hall, err := c.Hallway(ctx)
		if err != nil {
			return err
		}
		var order []string
		for _, r := range hall {
			order = append(order, r.Title)
		}
		if len(hall) < 2 || hall[0].ID != quiet.ID || hall[0].Followed != 1 {
			return fmt.Errorf("c's hallway: %v", order)
		}
		return nil
	})
}
