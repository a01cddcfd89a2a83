package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// TestSupporterPasses: a supporters' room is listed to every member but
// admits only the holders of its host's pass; the pass reaches the
// holder's node when issued, and a revoked pass no longer admits.
func TestSupporterPasses(t *testing.T) {
	a, b, c := initHome(t, "Alice"), initHome(t, "Bob"), initHome(t, "Carol")
	for _, h := range []string{a, b, c} {
		startDaemon(t, h)
	}
	mustRun(t, a, "network", "create", "Night Owls")
	token := strings.TrimSpace(mustRun(t, a, "invite", "--uses", "2"))
	mustRun(t, b, "join", token)
	mustRun(t, c, "join", token)
	room := mustJSON[apiv1.RoomState](t, a, "room", "create", "--title", "For supporters", "--type", "supporters").ID
	for _, h := range []string{b, c} {
		testutil.Eventually(t, 20*time.Second, func() error {
			if _, ok := hallway(t, h)[room]; !ok {
				return fmt.Errorf("%s's hallway does not list the supporters' room", h)
			}
			return nil
		})
	}
	if _, err := clubnode(b, "room", "join", room); err == nil || !strings.Contains(err.Error(), "no supporter pass") {
		t.Fatalf("Bob without a pass: %v", err)
	}

	sp := mustJSON[apiv1.SupporterPass](t, a, "pass", "issue", "--for", "bob", "--expires", "30d")
	if sp.NotDelivered != "" || sp.Expires.Sub(time.Now()) < 29*24*time.Hour {
		t.Fatalf("pass issue: %+v", sp)
	}
	if out := mustRun(t, b, "pass", "list"); !strings.Contains(out, sp.ID) || !strings.Contains(out, "Alice (") {
		t.Fatalf("Bob's pass list:\n%s", out)
	}
	mustRun(t, b, "room", "join", room)
	if _, err := clubnode(c, "room", "join", room); err == nil || !strings.Contains(err.Error(), "no supporter pass") {
		t.Fatalf("Carol without a pass: %v", err)
	}

	mustRun(t, a, "pass", "revoke", sp.ID)
	if ps := mustJSON[apiv1.Passes](t, a, "pass", "list"); len(ps.Issued) != 1 || !ps.Issued[0].Revoked {
		t.Fatalf("Alice's passes after revoking: %+v", ps)
	}
	mustRun(t, b, "room", "leave", room)
	if _, err := clubnode(b, "room", "join", room); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("Bob with a revoked pass: %v", err)
	}
}
