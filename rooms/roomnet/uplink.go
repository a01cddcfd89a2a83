package roomnet

import (
	"sync"
	"time"

	"github.com/clubnode/clubnode/audio/rtc"
)

// Measured uplink. A relay declares how many children it carries
// (RelayCapacity), but its uplink may carry fewer: then the packets it
// sends are lost on most of its children's links at once, unlike one
// child on a bad network, whose loss is its own. A child's loss in a
// window is the larger of what its RTCP receiver reports say it never got
// (rtc.LinkStats.RemoteLost: what retransmission did not repair) and the
// NACKs it sent (NACKsReceived: about one per packet lost on the way,
// repaired or not, at 50 packets a second), over the packets sent to it:
// the NACKs see a dropping uplink while retransmissions still hide it. The guard reads the child links'
// counters every uplinkWindow; when most of at least two active children
// lost over saturatedLoss of what was sent to them in a window, beyond
// what the relay itself lost from its parent, the relay
// carries too much, and its capacity drops below the children it has, so
// that the host places no new one under it (a capacity report, not a
// move: capacity.go). Each window without such loss after
// uplinkGrowEvery gives one child back, up to the declared capacity:
// growing fast would bring back the loss it just left.

const (
	uplinkWindow    = 2 * time.Second
	uplinkGrowEvery = 30 * time.Second
	// saturatedLoss is the loss on a child's link that counts: Opus with
	// NACK hides a percent or two, not five.
	saturatedLoss = 0.05
	// minWindowPackets is what a child must have been sent in a window to
	// count: a window of silence (DTX) says nothing about the uplink.
	minWindowPackets = 20
)

// uplinkGuard is the capacity this relay can carry, from its child links'
// loss. Safe for concurrent use.
type uplinkGuard struct {
	mu        sync.Mutex
	declared  int
	effective int
	changed   time.Time
	last      map[rtc.LinkLabel]linkCount
}

type linkCount struct{ sent, lost, nacks int64 }

func newUplinkGuard(declared int) *uplinkGuard {
	return &uplinkGuard{declared: declared, effective: declared, last: map[rtc.LinkLabel]linkCount{}}
}

// capacity is how many children this relay carries now.
func (g *uplinkGuard) capacity() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.effective
}

// observe reads one window of link counters at now and reports whether the
// capacity changed.
func (g *uplinkGuard) observe(now time.Time, links []rtc.LinkStats) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	next := make(map[rtc.LinkLabel]linkCount, len(links))
	// Loss the relay has from its own parent reaches every child too (it
	// forwards packets with their sequence numbers): only what the
	// children lose beyond it is the uplink's.
	upstream := 0.0
	for _, l := range links {
		if l.Role == rtc.RoleParent {
			cur := linkCount{sent: int64(l.PacketsReceived), lost: l.PacketsLost, nacks: int64(l.NACKsSent)}
			next[l.LinkLabel] = cur
			prev, ok := g.last[l.LinkLabel]
			upstream = max(upstream, windowLoss(prev, cur, ok))
		}
	}
	active, lossy := 0, 0
	for _, l := range links {
		if l.Role != rtc.RoleChild {
			continue
		}
		cur := linkCount{sent: int64(l.PacketsSent), lost: l.RemoteLost, nacks: int64(l.NACKsReceived)}
		next[l.LinkLabel] = cur
		prev, ok := g.last[l.LinkLabel]
		if !ok || cur.sent-prev.sent < minWindowPackets {
			continue
		}
		active++
		if windowLoss(prev, cur, ok) >= upstream+saturatedLoss {
			lossy++
		}
	}
	g.last = next
	return g.decide(now, active, lossy)
}

// windowLoss is the share of a window's packets lost: the larger of what
// the receiver never got and what it NACKed. 0 without a previous count
// or packets.
func windowLoss(prev, cur linkCount, ok bool) float64 {
	n := cur.sent - prev.sent
	if !ok || n < minWindowPackets {
		return 0
	}
	return float64(max(cur.lost-prev.lost, cur.nacks-prev.nacks)) / float64(n)
}

// decide changes the capacity by a window's active and lossy children.
func (g *uplinkGuard) decide(now time.Time, active, lossy int) bool {
	before := g.effective
	switch {
	case active >= 2 && 4*lossy >= 3*active:
		// Most children lose at once: carry one fewer than now.
		g.effective = max(min(g.effective, active-1), 0)
		g.changed = now
	case lossy == 0 && g.effective < g.declared && now.Sub(g.changed) >= uplinkGrowEvery:
		g.effective++
		g.changed = now
	}
	return g.effective != before
}
