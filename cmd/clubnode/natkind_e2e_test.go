package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/internal/netlab"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
)

// Each node finds out the NAT in front of it by comparing what the STUN
// servers of two always-on nodes (Alice and Erin, two ports each) see of
// one socket:
// behind the port-preserving routers the same address (hole punching
// works), behind the symmetric one a port per server, so Dave tells
// hosts he is relay-only. The public nodes have no NAT. When another
// always-on node comes, the homes test again.
func TestNodesFindOutTheirNAT(t *testing.T) {
	lab := netlab.New(t)
	alice := startLabNode(t, lab.PublicHost("alwayson"), "Alice", "--reachability", "public")
	erin := startLabNode(t, lab.PublicHost("alwaysontoo"), "Erin", "--reachability", "public")
	bob := startLabNode(t, lab.Home("bob", netlab.PortPreserving), "Bob")
	carol := startLabNode(t, lab.Home("carol", netlab.PortPreserving), "Carol")
	dave := startLabNode(t, lab.Home("dave", netlab.Symmetric), "Dave")
	alice.Must(t, "network", "create", "Night Owls")
	for _, n := range []*labNode{erin, bob, carol, dave} {
		n.Must(t, "join", strings.TrimSpace(alice.Must(t, "invite")))
	}
	joined := time.Now()
	want := []struct {
		n          *labNode
		router     string
		nat, reach string
	}{
		{alice, "public", "public", "public"},
		{erin, "public", "public", "public"},
		{bob, "port-preserving A", "endpoint-independent", "punchable"},
		{carol, "port-preserving B", "endpoint-independent", "punchable"},
		{dave, "symmetric", "symmetric", "relay-only"},
	}
	got := map[*labNode]apiv1.Identity{}
	testutil.Eventually(t, 60*time.Second, func() error {
		var errs []error
		for _, w := range want {
			id, ok := got[w.n]
			if !ok || id.NAT != w.nat || id.Reach != w.reach {
				id = daemontest.JSON[apiv1.Identity](t, w.n.daemon, "id")
			}
			if id.NAT != w.nat || id.Reach != w.reach {
				errs = append(errs, fmt.Errorf("%s reports nat %q, reach %q; want %q, %q (mapped %v)",
					w.n.name, id.NAT, id.Reach, w.nat, w.reach, id.NATMapped))
				continue
			}
			if _, ok := got[w.n]; !ok {
				got[w.n] = id
				t.Logf("%s (%s): nat %s, reach %s, %s after the joins; mapped %v", w.n.name, w.router,
					id.NAT, id.Reach, time.Since(joined).Round(time.Millisecond), id.NATMapped)
			}
		}
		return errors.Join(errs...)
	})
	// A third always-on node joins: the set changed, so the homes test
	// again, now against all three servers, on both ports of each.
	frank := startLabNode(t, lab.PublicHost("alwaysonthree"), "Frank", "--reachability", "public")
	frank.Must(t, "join", strings.TrimSpace(alice.Must(t, "invite")))
	testutil.Eventually(t, 60*time.Second, func() error {
		var errs []error
		for _, w := range want[2:] {
			id := daemontest.JSON[apiv1.Identity](t, w.n.daemon, "id")
			if len(id.NATMapped) != 6 || id.NAT != w.nat {
				errs = append(errs, fmt.Errorf("%s: nat %q from %v, want %q from three servers' six ports", w.n.name, id.NAT, id.NATMapped, w.nat))
			}
		}
		return errors.Join(errs...)
	})
	t.Logf("with Frank: every home tested again against three always-on nodes")
}
