package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
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

// labNode is a daemon in the lab with the host it runs in.
type labNode struct {
	*daemon
	host *netlab.Host
	name string
	id   string
}

func startLabNode(t *testing.T, h *netlab.Host, name string, extra ...string) *labNode {
	t.Helper()
	d := labDaemon(t, h, name, extra...)
	return &labNode{daemon: d, host: h, name: name, id: daemontest.JSON[apiv1.Identity](t, d, "id").PeerID}
}

// parentLink is n's connected link to its parent in room, or an error
// saying why there is none.
func parentLink(t *testing.T, n *labNode, room string) (apiv1.RoomLink, string, error) {
	t.Helper()
	st := daemontest.JSON[apiv1.RoomState](t, n.daemon, "room", "show", room)
	if st.Audio == nil || st.Audio.Parent == "" {
		return apiv1.RoomLink{}, "", fmt.Errorf("%s has no parent in the room's relay tree", n.name)
	}
	j := slices.IndexFunc(st.Audio.Links, func(l apiv1.RoomLink) bool {
		return l.Role == "parent" && l.Peer == st.Audio.Parent && l.Path != ""
	})
	if j < 0 {
		return apiv1.RoomLink{}, "", fmt.Errorf("%s's link to its parent has not connected", n.name)
	}
	return st.Audio.Links[j], st.Audio.Parent, nil
}

// relayHost is the always-on node whose TURN relay carries l, if any.
func relayHost(l apiv1.RoomLink, alwaysOn []*labNode) *labNode {
	ap, err := netip.ParseAddrPort(l.Relay)
	if err != nil {
		return nil
	}
	for _, a := range alwaysOn {
		if a.host.Addr == ap.Addr() {
			return a
		}
	}
	return nil
}

// Two always-on nodes with public addresses (Alice and Erin), both
// running the relay service and TURN; Bob hosts a room from behind a
// port-preserving NAT; Carol listens from behind another port-preserving
// NAT and Dave from behind a symmetric one, over TURN. The always-on node
// whose TURN relay Dave's link uses is killed mid-room: Dave's link (and
// its signalling, if it rode that node's circuit relay) must come back
// through the other always-on node. Who hears what, and the gap each
// listener hears, are asserted.
func TestAlwaysOnNodeDiesMidRoom(t *testing.T) {
	alwaysOn, bob, carol, dave := failoverNetwork(t)
	alice, erin := alwaysOn[0], alwaysOn[1]
	room := daemontest.JSON[apiv1.RoomState](t, bob.daemon, "room", "create", "--title", "Through the night").ID
	listeners := []*labNode{carol, dave}
	joinFromBehindNAT(t, room, bob, listeners)
	var daveLink apiv1.RoomLink
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, l := range listeners {
			link, _, err := parentLink(t, l, room)
			if err != nil {
				return err
			}
			if l == dave {
				daveLink = link
			}
		}
		if daveLink.Path != "turn" {
			return fmt.Errorf("Dave's link to his parent goes %q, want turn", daveLink.Path)
		}
		return nil
	})
	doomed := relayHost(daveLink, alwaysOn)
	if doomed == nil {
		t.Fatalf("Dave's link goes through TURN relay %q, on neither always-on node", daveLink.Relay)
	}
	survivor := alice
	if doomed == alice {
		survivor = erin
	}
	t.Logf("Dave's link goes through %s's TURN relay %s; the survivor is %s", doomed.name, daveLink.Relay, survivor.name)
	logControlPaths(t, listeners, bob)

	t.Run("heard before", func(t *testing.T) { hearAcross(t, bob.daemon, room, daemons(listeners)) })
	if t.Failed() {
		t.FailNow()
	}

	gaps := toneAcrossKill(t, bob, room, listeners, doomed)
	for i, l := range listeners {
		t.Logf("%s heard a gap of %s across %s's death", l.name, gaps[i], doomed.name)
		if gaps[i] > maxFailoverGap {
			t.Errorf("%s heard %s of silence across %s's death; at most %s", l.name, gaps[i], doomed.name, maxFailoverGap)
		}
	}
	link, _, err := parentLink(t, dave, room)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Dave's link now goes %s through %q", link.Path, link.Relay)
	if link.Path == "turn" && relayHost(link, alwaysOn) != survivor {
		t.Errorf("Dave's link goes through relay %q, not %s's", link.Relay, survivor.name)
	}
	logControlPaths(t, listeners, bob)
	t.Run("heard after", func(t *testing.T) { hearAcross(t, bob.daemon, room, daemons(listeners)) })
}

// failoverNetwork starts the lab of TestAlwaysOnNodeDiesMidRoom: Alice
// founds the network and everyone joins through her invites, and waits
// until every home reaches both always-on nodes and the host holds a
// reservation on each.
func failoverNetwork(t *testing.T) (alwaysOn []*labNode, bob, carol, dave *labNode) {
	t.Helper()
	lab := netlab.New(t)
	alice := startLabNode(t, lab.PublicHost("alwayson"), "Alice", "--reachability", "public")
	erin := startLabNode(t, lab.PublicHost("alwaysontoo"), "Erin", "--reachability", "public")
	bob = startLabNode(t, lab.Home("bob", netlab.PortPreserving), "Bob")
	carol = startLabNode(t, lab.Home("carol", netlab.PortPreserving), "Carol")
	dave = startLabNode(t, lab.Home("dave", netlab.Symmetric), "Dave")
	alwaysOn = []*labNode{alice, erin}
	alice.Must(t, "network", "create", "Night Owls")
	for _, n := range []*labNode{erin, bob, carol, dave} {
		n.Must(t, "join", strings.TrimSpace(alice.Must(t, "invite")))
	}
	// Every home reaches both always-on nodes, so that either one's relay
	// and TURN server can carry it.
	testutil.Eventually(t, 60*time.Second, func() error {
		var errs []error
		for _, h := range []*labNode{bob, carol, dave} {
			for _, a := range alwaysOn {
				errs = append(errs, connectedTo(t, h.daemon, a.id))
			}
		}
		return errors.Join(errs...)
	})
	// The host behind NAT holds a reservation on each always-on node, so
	// that it stays reachable through either.
	testutil.Eventually(t, 60*time.Second, func() error {
		addrs := strings.Join(daemontest.JSON[apiv1.Identity](t, bob.daemon, "id").Addrs, " ")
		for _, a := range alwaysOn {
			if !strings.Contains(addrs, a.id+"/p2p-circuit") {
				return fmt.Errorf("Bob has no relay reservation on %s yet: %s", a.name, addrs)
			}
		}
		return nil
	})
	return alwaysOn, bob, carol, dave
}

// joinFromBehindNAT has each listener join room, hosted by host, once its
// hallway lists the room and it knows the host as a member.
func joinFromBehindNAT(t *testing.T, room string, host *labNode, listeners []*labNode) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, l := range listeners {
			if !slices.ContainsFunc(daemontest.JSON[[]apiv1.Room](t, l.daemon, "room", "list"),
				func(r apiv1.Room) bool { return r.ID == room }) {
				return fmt.Errorf("%s's hallway does not list the room yet", l.name)
			}
			// A hallway can list the room before its node knows the host
			// as a member: joining then fails ("has not proved
			// membership"). Seen, left to the join-timing work.
			if !slices.ContainsFunc(daemontest.JSON[[]apiv1.Member](t, l.daemon, "members"),
				func(m apiv1.Member) bool { return m.PeerID == host.id }) {
				return fmt.Errorf("%s does not list the host as a member yet", l.name)
			}
		}
		return nil
	})
	for _, l := range listeners {
		l.Must(t, "room", "join", room)
	}
}

// maxFailoverGap is the most silence a listener may hear while its link
// moves from a dead always-on node to the other one.
const maxFailoverGap = 12 * time.Second

func daemons(ns []*labNode) []*daemon {
	out := make([]*daemon, len(ns))
	for i, n := range ns {
		out[i] = n.daemon
	}
	return out
}

func logControlPaths(t *testing.T, listeners []*labNode, host *labNode) {
	t.Helper()
	for _, l := range listeners {
		for _, p := range daemontest.JSON[[]apiv1.Peer](t, l.daemon, "peers") {
			if p.PeerID == host.id {
				t.Logf("%s's libp2p connection to the host: %s (%s)", l.name, p.Link, p.Addr)
			}
		}
	}
}

// record starts `clubnode listen` on each listener for d, with a live
// listener's buffer (so the gaps are those a listener hears), and returns
// the recordings' paths and a wait for each.
func record(ctx context.Context, t *testing.T, dir, room string, listeners []*labNode, d time.Duration) ([]string, []func() error) {
	t.Helper()
	bin := daemontest.MustBinary(t)
	outs := make([]string, len(listeners))
	var recs []func() error
	for i, l := range listeners {
		outs[i] = filepath.Join(dir, fmt.Sprintf("heard%d.wav", i))
		c := l.Runner.Command(ctx, bin, "--home", l.Home, "listen", room, "--output", outs[i],
			"--duration", d.String(), "--delay", "60ms")
		var errOut bytes.Buffer
		c.Stderr = &errOut
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, func() error {
			if err := c.Wait(); err != nil {
				return fmt.Errorf("listen on %s: %w: %s", l.name, err, errOut.String())
			}
			return nil
		})
	}
	return outs, recs
}

// toneAcrossKill has the host play a tone (any silence in a recording of
// it is a dropout) while every listener records it; once each listener
// has had it for a while, doomed is killed. It waits until every
// listener's parent link is connected again and returns the longest
// silence in each recording.
func toneAcrossKill(t *testing.T, host *labNode, room string, listeners []*labNode, doomed *labNode) []time.Duration {
	t.Helper()
	const length = 40 * time.Second
	dir := t.TempDir()
	in := filepath.Join(dir, "tone.wav")
	writeWAV(t, in, audiotest.Tone(440, length))
	bin := daemontest.MustBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), length+30*time.Second)
	defer cancel()
	outs, recs := record(ctx, t, dir, room, listeners, length-4*time.Second)
	speak := host.Runner.Command(ctx, bin, "--home", host.Home, "speak", room, "--input", in)
	var speakOut bytes.Buffer
	speak.Stdout, speak.Stderr = &speakOut, &speakOut
	if err := speak.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once every listener has had the tone for a few seconds.
	start := time.Now()
	testutil.Eventually(t, 20*time.Second, func() error {
		if time.Since(start) < 6*time.Second {
			return errors.New("not long enough into the tone")
		}
		for _, l := range listeners {
			if st := daemontest.JSON[apiv1.RoomState](t, l.daemon, "room", "show", room); st.Audio == nil || st.Audio.PacketsIn == 0 {
				return fmt.Errorf("%s has had no audio yet", l.name)
			}
		}
		return nil
	})
	killed := time.Now()
	doomed.Kill()
	t.Logf("killed %s %s into the tone", doomed.name, killed.Sub(start).Round(100*time.Millisecond))
	for _, l := range listeners {
		testutil.Eventually(t, length, func() error {
			link, _, err := parentLink(t, l, room)
			if err != nil {
				return err
			}
			if relayHost(link, []*labNode{doomed}) != nil {
				return fmt.Errorf("%s's link still names the dead relay %s", l.name, link.Relay)
			}
			return nil
		})
		t.Logf("%s's parent link is connected again %s after the kill", l.name, time.Since(killed).Round(100*time.Millisecond))
	}
	if err := speak.Wait(); err != nil {
		t.Fatalf("speak: %v: %s", err, speakOut.String())
	}
	gaps := make([]time.Duration, len(listeners))
	for i, wait := range recs {
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		heard := readWAV(t, outs[i])
		if rms := rmsOf(heard); rms < 1000 {
			t.Fatalf("%s's recording does not hold the tone (RMS %.0f; the tone's is about 7700)", listeners[i].name, rms)
		}
		gap, at := audiotest.LongestGap(heard)
		t.Logf("%s: longest silence %s, %s into the recording (killed %s after it began)", listeners[i].name, gap,
			at.Round(10*time.Millisecond), killed.Sub(start).Round(100*time.Millisecond))
		gaps[i] = gap
	}
	return gaps
}
