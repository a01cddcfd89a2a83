package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// TestJoinWaitsForTheInviter: an invitee whose inviter's node is down
// keeps trying, says what it is waiting for, and is in once the inviter
// is back (on the addresses its token names).
func TestJoinWaitsForTheInviter(t *testing.T) {
	a, b := initHome(t, "Alice"), initHome(t, "Bob")
	listenA := freeListenAddrs(t)
	da := startDaemon(t, a, listenA...)
	mustRun(t, a, "network", "create", "Night Owls")
	token := strings.TrimSpace(mustRun(t, a, "invite"))
	da.Stop()
	startDaemon(t, b)

	join := exec.Command(daemontest.MustBinary(t), "--home", b, "join", "--wait", "90s", token)
	var stderr testutil.LockedBuffer
	join.Stderr = &stderr
	if err := join.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(stderr.String(), "waiting for the inviter's node") {
			return fmt.Errorf("join has not said what it waits for: %q", stderr.String())
		}
		return nil
	})
	startDaemon(t, a, listenA...)
	if err := join.Wait(); err != nil {
		t.Fatalf("join once the inviter was back: %v\n%s", err, stderr.String())
	}
	if id := mustJSON[apiv1.Identity](t, b, "id"); id.Network == nil || id.Network.Name != "Night Owls" {
		t.Fatalf("Bob after join: %+v", id)
	}
}

// A newcomer's name reaches the members at once: nobody sees a bare peer
// ID for someone who joined with a name.
func TestNewcomerIsNamedEverywhere(t *testing.T) {
	a, c, b := initHome(t, "Alice"), initHome(t, "Carol"), initHome(t, "Bob")
	startDaemon(t, a)
	startDaemon(t, c)
	mustRun(t, a, "network", "create", "Night Owls")
	mustRun(t, c, "join", strings.TrimSpace(mustRun(t, a, "invite")))
	startDaemon(t, b)
	joined := time.Now()
	mustRun(t, b, "join", strings.TrimSpace(mustRun(t, a, "invite")))
	idB := mustJSON[apiv1.Identity](t, b, "id").PeerID
	for _, h := range []string{a, c} {
		testutil.Eventually(t, 10*time.Second, func() error {
			for _, m := range mustJSON[[]apiv1.Member](t, h, "members") {
				if m.PeerID == idB && m.Name == "Bob" {
					return nil
				}
			}
			return fmt.Errorf("%s does not show Bob's name", h)
		})
	}
	t.Logf("the newcomer's name reached every member %s after its join", time.Since(joined).Round(time.Millisecond))
}
