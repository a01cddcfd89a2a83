package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// The node decides what is worth a notification (issue 16): a followed
// member starts a room, a followed member goes on stage, a room one asked
// to be reminded of starts; and nothing for what was there already.
func TestNoticesFollowedAndReminded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, c := roomNodes(t, ctx)
	before, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Already on"})
	if err != nil {
		t.Fatal(err)
	}
	lists(t, c, before.ID, true)
	for _, p := range []*Node{a, b} {
		if _, err := c.Follow(ctx, apiv1.FollowRequest{Peer: p.ID().String(), On: true}); err != nil {
			t.Fatal(err)
		}
	}
	look := func() []apiv1.Notice {
		hall, err := c.Hallway(ctx)
		if err != nil {
			t.Fatal(err)
		}
		members, _ := c.Members(ctx)
		return c.notices(ctx, hall, members)
	}
	if got := look(); len(got) != 0 {
		t.Fatalf("the first look found news: %+v", got)
	}
	waitNotice := func(kind, title string) {
		t.Helper()
		testutil.Eventually(t, 15*time.Second, func() error {
			got := look()
			if slices.ContainsFunc(got, func(n apiv1.Notice) bool { return n.Kind == kind && n.Title == title }) {
				return nil
			}
			return fmt.Errorf("no %s notice %q in %+v", kind, title, got)
		})
	}

	// b (followed) starts a room, then goes on a's stage (leaving its
	// own: one room at a time).
	if _, err := b.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "B's room"}); err != nil {
		t.Fatal(err)
	}
	waitNotice(apiv1.NoticeRoomStarted, "b started a room")
	lists(t, b, before.ID, true)
	for _, step := range []struct {
		n      *Node
		action string
		peer   string
	}{{b, apiv1.ActionJoin, ""}, {a, apiv1.ActionInviteSpeaker, b.ID().String()}, {b, apiv1.ActionAcceptInvite, ""}} {
		if _, err := step.n.RoomAction(ctx, before.ID, step.action, apiv1.RoomActionRequest{Peer: step.peer}); err != nil {
			t.Fatalf("%s: %v", step.action, err)
		}
	}
	waitNotice(apiv1.NoticeOnStage, "b is on stage")

	// A scheduled room c asked to be reminded of starts.
	later, err := a.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Soon", Start: time.Now().Add(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	lists(t, c, later.ID, true)
	if _, err := c.Remind(ctx, apiv1.RemindRequest{Room: later.ID, On: true}); err != nil {
		t.Fatal(err)
	}
	look()
	waitNotice(apiv1.NoticeReminder, "Soon is starting")
	if c.reminders(ctx)[later.ID] {
		t.Error("the reminder is still there after it fired")
	}
}
