package main

import (
	"testing"
)

// The pairs of NAT kinds TestMembersBehindHomeRouters does not cover
// (there: a port-preserving host, A, with listeners behind the symmetric
// NAT and behind port-preserving B): a public host with listeners behind
// every NAT, a host behind the symmetric NAT with listeners behind the
// port-preserving ones, and a host behind port-preserving B with a public
// listener and one behind A. Each listener joins while the host speaks;
// the path, the time to link-up and to the first audio are logged as a
// table row. The paths asserted are those a NAT kind dictates: TURN
// wherever the symmetric NAT is, a punched hole between the
// port-preserving ones (the symmetric host, relay-only, keeps one child:
// the other listener hangs under the first). A public end's path is logged only: which kind
// each end reports depends on the candidates pion pairs.
func TestNATKindPairs(t *testing.T) {
	l := startNATLab(t)
	l.joinThroughAlice(t, l.bob, l.carol, l.dave)
	cases := []struct {
		host      *daemon
		listeners []*daemon
		want      []string
	}{
		{l.alice, []*daemon{l.bob, l.carol, l.dave}, []string{"", "", ""}},
		// Dave knows he is relay-only (two ports of Alice's STUN server
		// tell his NAT), so the tree keeps him with one child: Bob, over
		// TURN; Carol hangs under Bob, through a punched hole.
		{l.dave, []*daemon{l.bob, l.carol}, []string{"turn", "hole-punched"}},
		{l.carol, []*daemon{l.alice, l.bob}, []string{"", "hole-punched"}},
	}
	for _, c := range cases {
		t.Run(l.kind[c.host]+" host", func(t *testing.T) {
			room := hostRoom(t, c.host, "Pairs", c.listeners...)
			l.listenersJoin(t, c.host, room, c.listeners, c.want)
			c.host.Must(t, "room", "end", room)
		})
	}
}
