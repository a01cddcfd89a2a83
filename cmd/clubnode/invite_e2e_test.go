package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/node/apiv1"
)

// runSplit runs the real binary and returns stdout and stderr apart.
func runSplit(t *testing.T, home string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(daemontest.MustBinary(t), append([]string{"--home", home}, args...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// TestInviteFirstMinute: the invitee's first minute in the CLI. The token
// is short; before joining, inspect (and join --dry-run) show who invites
// to which network, until when and the uses left; join takes the link
// form at any port; afterwards nobody else can use the one-use token.
func TestInviteFirstMinute(t *testing.T) {
	a, b, c := initHome(t, "Alice"), initHome(t, "Bob"), initHome(t, "Carol")
	startDaemon(t, a)
	startDaemon(t, b)
	startDaemon(t, c)
	mustRun(t, a, "network", "create", "Night Owls")
	token := strings.TrimSpace(mustRun(t, a, "invite", "--expires", "3d"))
	if !strings.HasPrefix(token, "clubnode:") || len(token) > 260 {
		t.Fatalf("token of %d characters: %q", len(token), token)
	}
	t.Logf("a bearer token is %d characters", len(token))

	out := mustRun(t, b, "invite", "inspect", token)
	for _, want := range []string{"Night Owls", "Alice (", "uses left:  1 of 1", "(in 2d 23h)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("inspect does not say %q:\n%s", want, out)
		}
	}
	pv := mustJSON[apiv1.InvitePreview](t, b, "join", "--dry-run", token)
	if pv.Network.Name != "Night Owls" || pv.InviterName != "Alice" || pv.UsesLeft != 1 || !pv.Online ||
		pv.Expires.Sub(time.Now()) < 71*time.Hour {
		t.Fatalf("join --dry-run: %+v", pv)
	}
	if id := mustJSON[apiv1.Identity](t, b, "id"); id.Network != nil {
		t.Fatal("a dry run joined")
	}

	mustRun(t, b, "join", "http://127.0.0.1:7711/#/join/"+strings.ReplaceAll(token, ":", "%3A"))
	if id := mustJSON[apiv1.Identity](t, b, "id"); id.Network == nil || id.Network.Name != "Night Owls" {
		t.Fatalf("Bob after joining with the link: %+v", id)
	}
	if pv := mustJSON[apiv1.InvitePreview](t, c, "invite", "inspect", token); pv.UsesLeft != 0 {
		t.Fatalf("after its one use: %+v", pv)
	}

	// Errors a person can act on, and JSON for scripts under --json.
	_, errOut, err := runSplit(t, c, "join", token[:len(token)-20])
	if err == nil || strings.TrimSpace(errOut) != "clubnode: invite token: the token looks cut off: copy all of it" {
		t.Fatalf("cut token: %v %q", err, errOut)
	}
	_, errOut, err = runSplit(t, c, "join", "--json", token[:len(token)-20])
	var jerr struct{ Error, Code string }
	if err == nil || json.Unmarshal([]byte(errOut), &jerr) != nil || jerr.Code != "invalid" || !strings.Contains(jerr.Error, "cut off") {
		t.Fatalf("cut token under --json: %v %q", err, errOut)
	}
	_, errOut, _ = runSplit(t, t.TempDir(), "members", "--json")
	if json.Unmarshal([]byte(errOut), &jerr) != nil || jerr.Code != "no_node" || !strings.HasPrefix(jerr.Error, "no node here: run clubnode init") {
		t.Fatalf("an empty home under --json: %q", errOut)
	}
}
