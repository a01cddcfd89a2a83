package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/internal/netlab"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// natTODO skips a part of TestMembersBehindHomeRouters that needs what
// clubnode does not do yet; CLUBNODE_NAT_TODO=1 runs it anyway, to see how
// it fails today.
func natTODO(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CLUBNODE_NAT_TODO") == "" {
		t.Skip(reason + " (CLUBNODE_NAT_TODO=1 runs it anyway)")
	}
}

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
	})

	t.Run("listening to a room hosted behind another NAT", func(t *testing.T) {
		natTODO(t, "a room behind NAT needs hole punching for its control streams and ICE with the "+
			"always-on node's STUN/TURN server for its audio (Dave's NAT is symmetric: only TURN gets through)")
		dave.Must(t, "room", "join", room)
		testutil.Eventually(t, 30*time.Second, func() error {
			st := daemontest.JSON[apiv1.RoomState](t, dave, "room", "show", room)
			if st.Audio == nil || st.Audio.Parent == "" {
				return errors.New("Dave's node has no parent in the room's relay tree yet")
			}
			return nil
		})
	})
}
