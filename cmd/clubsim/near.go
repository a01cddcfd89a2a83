package main

import (
	"fmt"
	"time"

	"github.com/clubnode/clubnode/rooms"
)

// How a policy that learns tells the placer who is near whom: by network
// coordinates (what the figures assumed before nodes measured anything),
// by measured round trips to peers the node knows (what roomnet's place
// request carries), or not at all (what roomnet sent before it measured).
const (
	nearCoord    = ""
	nearMeasured = "measured"
	nearNone     = "none"
)

func validNear(s string) error {
	switch s {
	case nearCoord, "coord", nearMeasured, nearNone:
		return nil
	}
	return fmt.Errorf("near %q: want coord, measured or none", s)
}

// knownPeers is how many room members a node knows well enough to have
// measured: roomnet's place request carries up to rooms.MaxMeasuredRTTs.
const knownPeers = rooms.MaxMeasuredRTTs

// measure is what n measured to the members it knows: the host and its
// placer, its parent and backups (it has links to them), and random live
// members for the rest, standing for the members it is connected to
// through the room's gossip (roomnet measures directly connected members).
// Each round trip is one ping: the pair's RTT plus the network's jitter.
func (s *sim) measure(n *node) []rooms.PeerRTT {
	seen := map[*node]bool{n: true}
	var out []rooms.PeerRTT
	add := func(p *node) {
		if p == nil || seen[p] || !p.alive || len(out) >= knownPeers {
			return
		}
		seen[p] = true
		jitter := time.Duration(s.nearRNG.ExpFloat64() * float64(2*time.Millisecond))
		out = append(out, rooms.PeerRTT{Peer: p.id, RTT: rtt(n, p) + jitter})
	}
	add(s.host)
	if n.placer != nil {
		add(n.placer.owner)
	}
	add(s.parentOf(n))
	for _, b := range n.backups {
		add(b)
	}
	for tries := 0; len(out) < knownPeers && tries < 4*knownPeers && len(s.nodes) > 0; tries++ {
		if p := s.nodes[s.nearRNG.IntN(len(s.nodes))]; !p.speaker {
			add(p)
		}
	}
	return out
}
