package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/internal/netlab"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// labDaemon makes a home for name inside h and starts its daemon there,
// listening on every interface of h.
// Every daemon takes the lab's "internet" for the public Internet (it is a
// documentation range, which go-libp2p otherwise ignores); the always-on
// host is told it is public, the homes find out they are not.
func labDaemon(t *testing.T, h *netlab.Host, name string, extra ...string) *daemon {
	t.Helper()
	return daemontest.Start(t, h, daemontest.Init(t, h, name), daemontest.Options{
		Listen: daemontest.LabListen,
		Extra:  append([]string{"--room-announce-interval", "1s", "--lab-internet", netlab.InternetCIDR}, extra...),
	})
}

// relayAddr waits until d announces a circuit relay address, and returns it.
func relayAddr(t *testing.T, d *daemon) string {
	t.Helper()
	var addr string
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, a := range daemontest.JSON[apiv1.Identity](t, d, "id").Addrs {
			if strings.Contains(a, "/p2p-circuit") {
				addr = a
				return nil
			}
		}
		return errors.New("no relay reservation yet")
	})
	return addr
}

func connectedTo(t *testing.T, d *daemon, peerID string) error {
	t.Helper()
	for _, m := range daemontest.JSON[[]apiv1.Member](t, d, "members") {
		if m.PeerID == peerID {
			if !m.Connected {
				return fmt.Errorf("%s is a member but not connected", peerID)
			}
			return nil
		}
	}
	return fmt.Errorf("%s is not listed as a member", peerID)
}

// Real daemons in a NAT lab, as the issue "Members behind home routers"
// describes them: Alice founds the network on an always-on host with a
// public address; Bob and Carol live behind port-preserving home routers,
// Dave behind a symmetric one; every router drops unsolicited inbound
// traffic. What works today is asserted; what does not yet is skipped,
// with what it needs.
func TestMembersBehindHomeRouters(t *testing.T) {
	lab := netlab.New(t)
	alice := labDaemon(t, lab.PublicHost("alwayson"), "Alice", "--reachability", "public")
	bob := labDaemon(t, lab.Home("bob", netlab.PortPreserving), "Bob")
	carol := labDaemon(t, lab.Home("carol", netlab.PortPreserving), "Carol")
	dave := labDaemon(t, lab.Home("dave", netlab.Symmetric), "Dave")
	alice.Must(t, "network", "create", "Night Owls")
	id := func(d *daemon) string { return daemontest.JSON[apiv1.Identity](t, d, "id").PeerID }
	idAlice, idBob, idDave := id(alice), id(bob), id(dave)

	ok := t.Run("joining through the public node", func(t *testing.T) {
		for _, d := range []*daemon{bob, dave} {
			token := strings.TrimSpace(alice.Must(t, "invite"))
			start := time.Now()
			d.Must(t, "join", token)
			t.Logf("joined from behind NAT through the public node in %s", time.Since(start).Round(time.Millisecond))
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			return errors.Join(connectedTo(t, alice, idBob), connectedTo(t, alice, idDave),
				connectedTo(t, bob, idAlice), connectedTo(t, dave, idAlice))
		})
		// Today Bob and Dave learn nothing of each other through Alice:
		// said here, not asserted, as it should change.
		knows := slices.ContainsFunc(daemontest.JSON[[]apiv1.Member](t, bob, "members"),
			func(m apiv1.Member) bool { return m.PeerID == idDave })
		t.Logf("Bob lists Dave as a member: %v; connected to him: %v", knows, connectedTo(t, bob, idDave) == nil)
	})
	if !ok {
		t.FailNow()
	}

	var room string
	ok = t.Run("a room hosted behind NAT is in every hallway", func(t *testing.T) {
		room = daemontest.JSON[apiv1.RoomState](t, bob, "room", "create", "--title", "Behind the router").ID
		testutil.Eventually(t, 30*time.Second, func() error {
			for _, r := range daemontest.JSON[[]apiv1.Room](t, dave, "room", "list") {
				if r.ID == room {
					return nil
				}
			}
			return errors.New("Dave's hallway does not list Bob's room yet")
		})
	})
	if !ok {
		t.FailNow()
	}

	carolIn := false
	t.Run("bearer invite across two port-preserving NATs", func(t *testing.T) {
		// Bob, behind NAT, holds a reservation on the always-on node:
		// his invite carries the circuit address through it.
		t.Logf("Bob is reachable through %s", relayAddr(t, bob))
		token := strings.TrimSpace(bob.Must(t, "invite"))
		start := time.Now()
		res := daemontest.JSON[apiv1.JoinResult](t, carol, "join", token)
		if res.InvitedBy != idBob {
			t.Fatalf("Carol was invited by %s, want Bob", res.InvitedBy)
		}
		t.Logf("Carol redeemed Bob's invite across two NATs in %s", time.Since(start).Round(time.Millisecond))
		carolIn = true
	})

	t.Run("listening to a room hosted behind another NAT", func(t *testing.T) {
		// Dave's NAT is symmetric: only TURN gets through. Carol's and
		// Bob's keep ports: ICE goes straight through their mappings.
		listeners, want := []*daemon{dave}, []string{"turn"}
		if carolIn {
			listeners, want = append(listeners, carol), append(want, "hole-punched")
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			for _, d := range listeners {
				if !slices.ContainsFunc(daemontest.JSON[[]apiv1.Room](t, d, "room", "list"),
					func(r apiv1.Room) bool { return r.ID == room }) {
					return fmt.Errorf("%s's hallway does not list the room yet", d.Home)
				}
			}
			return nil
		})
		for _, d := range listeners {
			d.Must(t, "room", "join", room)
		}
		joined := time.Now()
		paths := make([]apiv1.RoomLink, len(listeners))
		testutil.Eventually(t, 30*time.Second, func() error {
			for i, d := range listeners {
				st := daemontest.JSON[apiv1.RoomState](t, d, "room", "show", room)
				if st.Audio == nil || st.Audio.Parent == "" {
					return fmt.Errorf("%s has no parent in the room's relay tree yet", d.Home)
				}
				j := slices.IndexFunc(st.Audio.Links, func(l apiv1.RoomLink) bool { return l.Role == "parent" && l.Path != "" })
				if j < 0 {
					return fmt.Errorf("%s's link to its parent has not connected yet", d.Home)
				}
				paths[i] = st.Audio.Links[j]
			}
			return nil
		})
		for i, p := range paths {
			t.Logf("listener %d: parent link %s, RTT %.1f ms, connected %s after room join", i, p.Path, p.RTTMillis,
				time.Since(joined).Round(time.Millisecond))
			if p.Path != want[i] {
				t.Errorf("listener %d's link to its parent goes %q, want %q", i, p.Path, want[i])
			}
		}
		// The control connection to the host: hole-punched (direct) where
		// DCUtR got through, relayed through the always-on node otherwise.
		for i, d := range listeners {
			for _, p := range daemontest.JSON[[]apiv1.Peer](t, d, "peers") {
				if p.PeerID == idBob {
					t.Logf("listener %d: libp2p connection to the host %s (%s), RTT %.1f ms", i, p.Link, p.Addr, p.RTTMillis)
				}
			}
		}
		t.Run("heard, decoded and matched", func(t *testing.T) {
			hearAcross(t, bob, room, listeners)
			if os.Getenv("CLUBNODE_NAT_PUBLIC_LISTENER") != "" {
				alice.Must(t, "room", "join", room)
				hearAcross(t, bob, room, []*daemon{alice})
			}
		})
	})
}

// hearAcross checks that every listener hears the host say speech.
func hearAcross(t *testing.T, bob *daemon, room string, listeners []*daemon) {
	t.Helper()
	{
		heard := listenAcross(t, bob, room, listeners)
		for i, pcm := range heard {
			if corr, lag := audiotest.Match(speech, pcm, 8*time.Second); corr < audiotest.MatchThreshold {
				t.Errorf("listener %d heard the host matching only %.2f (threshold %.2f)", i, corr, audiotest.MatchThreshold)
			} else {
				t.Logf("listener %d heard the host (match %.2f, lag %s)", i, corr, lag)
			}
		}
	}
}

// speech is what the host says in the room.
var speech = audiotest.Speech(5*time.Second, 11)

// listenAcross records the room on each listener's node (in its own
// namespace) while the host speaks, and returns the recordings.
func listenAcross(t *testing.T, host *daemon, room string, listeners []*daemon) [][]int16 {
	t.Helper()
	dir := t.TempDir()
	if d := os.Getenv("CLUBNODE_NAT_KEEP"); d != "" {
		dir = d
	}
	in := filepath.Join(dir, "speech.wav")
	writeWAV(t, in, speech)
	bin := daemontest.MustBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cmds []*exec.Cmd
	outs := make([]string, len(listeners))
	for i, d := range listeners {
		outs[i] = filepath.Join(dir, fmt.Sprintf("heard%d.wav", i))
		c := d.Runner.Command(ctx, bin, "--home", d.Home, "listen", room, "--output", outs[i], "--duration", "11s")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	speak := host.Runner.Command(ctx, bin, "--home", host.Home, "speak", room, "--input", in)
	var speakOut bytes.Buffer
	speak.Stdout, speak.Stderr = &speakOut, &speakOut
	if err := speak.Start(); err != nil {
		t.Fatal(err)
	}
	// What each listener's node shows of the stage while the host talks.
	idHost := daemontest.JSON[apiv1.Identity](t, host, "id").PeerID
	testutil.Eventually(t, 5*time.Second, func() error {
		st := daemontest.JSON[apiv1.RoomState](t, host, "room", "show", room)
		if !slices.ContainsFunc(st.Stage, func(s apiv1.RoomSpeaker) bool { return s.PeerID == idHost && !s.Muted }) {
			return errors.New("the host is not unmuted yet")
		}
		return nil
	})
	for i, d := range listeners {
		st := daemontest.JSON[apiv1.RoomState](t, d, "room", "show", room)
		muted := slices.ContainsFunc(st.Stage, func(s apiv1.RoomSpeaker) bool { return s.PeerID == idHost && s.Muted })
		t.Logf("while the host talks, listener %d's node shows the host muted: %v", i, muted)
	}
	if err := speak.Wait(); err != nil {
		t.Fatalf("speak: %v: %s", err, speakOut.String())
	}
	var heard [][]int16
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("listen on %s: %v", listeners[i].Home, err)
		}
		heard = append(heard, readWAV(t, outs[i]))
	}
	return heard
}
