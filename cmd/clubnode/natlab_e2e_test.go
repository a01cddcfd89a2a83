package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/internal/netlab"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// natLab is the lab of the issue "Members behind home routers": Alice on
// an always-on host with a public address, Bob and Carol behind
// port-preserving home routers (A and B), Dave behind a symmetric one.
type natLab struct {
	alice, bob, carol, dave *daemon
	kind                    map[*daemon]string // the NAT in front of each, for the logs
	name                    map[*daemon]string
	ids                     map[*daemon]string
}

// startNATLab starts the four daemons; Alice founds the network.
func startNATLab(t *testing.T) *natLab {
	t.Helper()
	lab := netlab.New(t)
	l := &natLab{
		alice: labDaemon(t, lab.PublicHost("alwayson"), "Alice", "--reachability", "public"),
		bob:   labDaemon(t, lab.Home("bob", netlab.PortPreserving), "Bob"),
		carol: labDaemon(t, lab.Home("carol", netlab.PortPreserving), "Carol"),
		dave:  labDaemon(t, lab.Home("dave", netlab.Symmetric), "Dave"),
	}
	l.kind = map[*daemon]string{l.alice: "public", l.bob: "port-preserving A", l.carol: "port-preserving B", l.dave: "symmetric"}
	l.name = map[*daemon]string{l.alice: "Alice", l.bob: "Bob", l.carol: "Carol", l.dave: "Dave"}
	l.ids = map[*daemon]string{}
	for d := range l.kind {
		l.ids[d] = daemontest.JSON[apiv1.Identity](t, d, "id").PeerID
	}
	l.alice.Must(t, "network", "create", "Night Owls")
	return l
}

// joinThroughAlice has each of ds redeem an invite of Alice's, and waits
// until they and Alice are connected.
func (l *natLab) joinThroughAlice(t *testing.T, ds ...*daemon) {
	t.Helper()
	for _, d := range ds {
		token := strings.TrimSpace(l.alice.Must(t, "invite"))
		start := time.Now()
		d.Must(t, "join", token)
		t.Logf("%s joined from behind a %s NAT through the public node in %s", l.name[d], l.kind[d],
			time.Since(start).Round(time.Millisecond))
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		var errs []error
		for _, d := range ds {
			errs = append(errs, connectedTo(t, l.alice, l.ids[d]), connectedTo(t, d, l.ids[l.alice]))
		}
		return errors.Join(errs...)
	})
}

// hostRoom has host create a room and waits until every one of ds lists
// it in their hallway.
func hostRoom(t *testing.T, host *daemon, title string, ds ...*daemon) string {
	t.Helper()
	room := daemontest.JSON[apiv1.RoomState](t, host, "room", "create", "--title", title).ID
	waitListed(t, room, ds...)
	return room
}

// waitListed waits until every one of ds lists room in their hallway.
func waitListed(t *testing.T, room string, ds ...*daemon) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, d := range ds {
			if !slices.ContainsFunc(daemontest.JSON[[]apiv1.Room](t, d, "room", "list"),
				func(r apiv1.Room) bool { return r.ID == room }) {
				return fmt.Errorf("%s's hallway does not list %s yet", d.Home, room)
			}
		}
		return nil
	})
}

// pairResult is what one listener's join of a room measured.
type pairResult struct {
	link       apiv1.RoomLink // the listener's link to its parent
	parent     string
	linkUp     time.Duration // from `room join` returning to the parent link's path known
	firstAudio time.Duration // from `room join` returning to the first speaker packet
	poll       time.Duration // the longest gap between two polls: the resolution
}

// joinAndTime has d join room while its host speaks, and times, by
// polling `room show`, how long after `room join` returns d's link to
// its parent has a path and d's node has the first packet of the host's
// voice (the API's packet counter: PacketsIn counts only packets of
// audible speakers).
func joinAndTime(t *testing.T, d *daemon, room string) pairResult {
	t.Helper()
	d.Must(t, "room", "join", room)
	joined := time.Now()
	var r pairResult
	last := joined
	testutil.Eventually(t, 30*time.Second, func() error {
		st := daemontest.JSON[apiv1.RoomState](t, d, "room", "show", room)
		now := time.Now()
		r.poll, last = max(r.poll, now.Sub(last)), now
		if st.Audio == nil {
			return errors.New("no audio yet")
		}
		if j := slices.IndexFunc(st.Audio.Links, func(l apiv1.RoomLink) bool { return l.Role == "parent" && l.Path != "" }); j >= 0 && r.linkUp == 0 {
			r.link, r.parent, r.linkUp = st.Audio.Links[j], st.Audio.Parent, now.Sub(joined)
		}
		if st.Audio.PacketsIn > 0 && r.firstAudio == 0 {
			r.firstAudio = now.Sub(joined)
		}
		if r.linkUp == 0 || r.firstAudio == 0 {
			return fmt.Errorf("%s: link up after %s, first audio after %s", d.Home, r.linkUp, r.firstAudio)
		}
		return nil
	})
	return r
}

// logPair prints one row of the closing note's table.
func (l *natLab) logPair(t *testing.T, host, listener *daemon, r pairResult) {
	t.Helper()
	via := "the host"
	if r.parent != l.ids[host] {
		via = "a relay " + r.parent
	}
	t.Logf("| %s (%s) → %s (%s) | %s | %.1f ms | %s | %s | parent: %s, polled every ≤%s |",
		l.name[host], l.kind[host], l.name[listener], l.kind[listener],
		r.link.Path, r.link.RTTMillis, r.linkUp.Round(time.Millisecond), r.firstAudio.Round(time.Millisecond),
		via, r.poll.Round(time.Millisecond))
}

// speakAlong has host speak into room for up to d in the background;
// the returned stop ends it with Ctrl-C, as a user would, and waits.
func speakAlong(t *testing.T, host *daemon, room string, d time.Duration) (stop func()) {
	t.Helper()
	in := filepath.Join(t.TempDir(), "long.wav")
	writeWAV(t, in, audiotest.Speech(d, 7))
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	c := host.Runner.Command(ctx, daemontest.MustBinary(t), "--home", host.Home, "speak", room, "--input", in)
	if err := c.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	waitUnmuted(t, host, room)
	stopped := false
	return func() {
		if stopped {
			return
		}
		stopped = true
		_ = c.Process.Signal(os.Interrupt)
		if err := c.Wait(); err != nil && !isInterrupted(err) {
			t.Errorf("speak: %v", err)
		}
		cancel()
	}
}

// isInterrupted: the process ended by the signal itself, before its
// handler ran.
func isInterrupted(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// waitUnmuted waits until host's node shows itself unmuted on stage.
func waitUnmuted(t *testing.T, host *daemon, room string) {
	t.Helper()
	idHost := daemontest.JSON[apiv1.Identity](t, host, "id").PeerID
	testutil.Eventually(t, 10*time.Second, func() error {
		st := daemontest.JSON[apiv1.RoomState](t, host, "room", "show", room)
		if !slices.ContainsFunc(st.Stage, func(s apiv1.RoomSpeaker) bool { return s.PeerID == idHost && !s.Muted }) {
			return errors.New("the host is not unmuted yet")
		}
		return nil
	})
}

// listenersJoin has each listener join room, one at a time, while host
// speaks, logs a table row per pair and checks each link's path against
// want (by listener; "" accepts any).
func (l *natLab) listenersJoin(t *testing.T, host *daemon, room string, listeners []*daemon, want []string) {
	t.Helper()
	stop := speakAlong(t, host, room, time.Duration(len(listeners))*10*time.Second+10*time.Second)
	defer stop()
	t.Logf("| host → listener | path | RTT | join → link up | join → first audio | |")
	for i, d := range listeners {
		r := joinAndTime(t, d, room)
		l.logPair(t, host, d, r)
		if want[i] != "" && r.link.Path != want[i] {
			t.Errorf("%s's link to its parent goes %q, want %q", l.name[d], r.link.Path, want[i])
		}
	}
}
