package roomnet

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"github.com/clubnode/clubnode/rooms"
)

// Measured round trips in place requests. A child tells the host its RTT
// to up to rooms.MaxMeasuredRTTs room members it is connected to, and the
// host prefers the nearest of otherwise equal parents (rooms.Placer).
//
// The RTTs come from the libp2p peerstore's LatencyEWMA first: it is free,
// smoothed over every ping this node made (earlier place requests, the
// takeover's and relay watch's pings), and it is the path a link would
// take. Members with no EWMA yet are pinged once, all at once, for at most
// placePingWait: that fills the EWMA for next time, and a member slower
// than that is not one nearness should pick, so the join waits that long
// at most, and only while too few members were measured before. Only a
// join waits for pings: a node that lost its parent, or reports where it
// failed over to, sends what the EWMA knows, so that the repair waits for
// nothing but the host.

// placePingWait bounds how long a place request waits for fresh pings.
const placePingWait = 150 * time.Millisecond

// maxMeasuredRTT is the largest round trip a place request may carry: a
// ping slower than this is a dead path, not a measurement.
const maxMeasuredRTT = 10 * time.Second

// placeRTT is one measured round trip on the wire.
type placeRTT struct {
	Peer   []byte `cbor:"0,keyasint"`
	Micros uint32 `cbor:"1,keyasint"`
}

// measuredRTTs are this node's RTTs to the room's members it has a direct
// connection to, nearest first, at most rooms.MaxMeasuredRTTs; those not
// measured before are pinged if ping is set.
func measuredRTTs(ctx context.Context, h host.Host, st *rooms.SignedState, ping bool) []placeRTT {
	var known []rooms.PeerRTT
	var unknown []peer.ID
	for _, p := range h.Network().Peers() {
		if p == h.ID() || !st.InRoom(p) || !directlyConnected(h, p) {
			continue
		}
		if rtt := h.Peerstore().LatencyEWMA(p); rtt > 0 {
			known = append(known, rooms.PeerRTT{Peer: p, RTT: rtt})
		} else {
			unknown = append(unknown, p)
		}
	}
	if missing := rooms.MaxMeasuredRTTs - len(known); ping && missing > 0 && len(unknown) > 0 {
		slices.Sort(unknown)
		known = append(known, pingAll(ctx, h, unknown[:min(missing, len(unknown))], placePingWait)...)
	}
	slices.SortFunc(known, func(a, b rooms.PeerRTT) int { return cmp.Or(cmp.Compare(a.RTT, b.RTT), cmp.Compare(a.Peer, b.Peer)) })
	out := make([]placeRTT, 0, min(len(known), rooms.MaxMeasuredRTTs))
	for _, r := range known[:min(len(known), rooms.MaxMeasuredRTTs)] {
		out = append(out, placeRTT{Peer: []byte(r.Peer), Micros: uint32(min(r.RTT, maxMeasuredRTT).Microseconds())})
	}
	return out
}

func directlyConnected(h host.Host, p peer.ID) bool {
	for _, c := range h.Network().ConnsToPeer(p) {
		if !c.Stat().Limited {
			return true
		}
	}
	return false
}

// pingAll pings every peer at once and returns the round trips that came
// back within wait. The pings run in libp2p's ping service, which stops
// them when ctx is cancelled, on return.
func pingAll(ctx context.Context, h host.Host, peers []peer.ID, wait time.Duration) []rooms.PeerRTT {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	results := make([]<-chan ping.Result, len(peers))
	for i, p := range peers {
		results[i] = ping.Ping(ctx, h, p)
	}
	var out []rooms.PeerRTT
	for i, ch := range results {
		select {
		case res, ok := <-ch:
			if ok && res.Error == nil && res.RTT > 0 {
				out = append(out, rooms.PeerRTT{Peer: peers[i], RTT: res.RTT})
			}
		case <-ctx.Done():
			return out
		}
	}
	return out
}

// parseRTTs checks a place request's round trips: at most
// rooms.MaxMeasuredRTTs, each a valid peer ID and a round trip within
// (0, maxMeasuredRTT]; anything else refuses the request.
func parseRTTs(in []placeRTT) ([]rooms.PeerRTT, error) {
	if len(in) > rooms.MaxMeasuredRTTs {
		return nil, fmt.Errorf("%w: %d round trips", rooms.ErrTooLarge, len(in))
	}
	out := make([]rooms.PeerRTT, 0, len(in))
	for _, r := range in {
		p, err := peer.IDFromBytes(r.Peer)
		if err != nil {
			return nil, fmt.Errorf("%w: round trip peer: %v", rooms.ErrMalformed, err)
		}
		rtt := time.Duration(r.Micros) * time.Microsecond
		if rtt <= 0 || rtt > maxMeasuredRTT {
			return nil, fmt.Errorf("%w: round trip %d µs", rooms.ErrMalformed, r.Micros)
		}
		out = append(out, rooms.PeerRTT{Peer: p, RTT: rtt})
	}
	return out, nil
}
