package rooms

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Reach is how other nodes can open a link to a node, as its NAT lets
// them. It decides who can hang under whom: a link works when either end
// is publicly reachable, or both can punch holes.
type Reach uint8

const (
	// ReachUnknown: not reported; placed as if public, which is what the
	// tree did before nodes reported it.
	ReachUnknown Reach = iota
	// ReachPublic: dialable from anywhere.
	ReachPublic
	// ReachPunchable: behind a NAT that hole punching gets through.
	ReachPunchable
	// ReachRelayOnly: reachable only through a circuit relay (symmetric
	// NAT, strict firewall). Such a node is a leaf unless no other node
	// can take a child, and only a public node can hang under it.
	ReachRelayOnly
)

// String names the reach as the API shows it.
func (r Reach) String() string {
	switch r {
	case ReachPublic:
		return "public"
	case ReachPunchable:
		return "punchable"
	case ReachRelayOnly:
		return "relay-only"
	default:
		return "unknown"
	}
}

func (r Reach) public() bool { return r == ReachUnknown || r == ReachPublic }

// canLink says whether a child of reach child can open a link to a parent
// of reach parent.
func canLink(parent, child Reach) bool {
	return parent.public() || child.public() || (parent == ReachPunchable && child == ReachPunchable)
}

// Coord is a network coordinate (Vivaldi style, in milliseconds): the RTT
// between two nodes is estimated as the distance between their points
// plus both heights (the access links everything crosses).
type Coord struct {
	X, Y, Height float64
}

// EstimateRTT is the round trip between two coordinates, in milliseconds.
func EstimateRTT(a, b Coord) float64 {
	dx, dy := a.X-b.X, a.Y-b.Y
	return math.Sqrt(dx*dx+dy*dy) + a.Height + b.Height
}

// Traits are what a node tells the host about itself, measured where it
// can be. The zero value says nothing, and the node is placed by its
// declared capacity alone.
type Traits struct {
	// UplinkKbps is the node's measured uplink; 0 if unknown. When known
	// it bounds the capacity: see CapacityFromUplink.
	UplinkKbps int
	// Reach is how others can open a link to it.
	Reach Reach
	// AlwaysOn marks a node that stays for the room's life (a home server,
	// a VPS): the host keeps these near the root.
	AlwaysOn bool
	// Coord is its network coordinate, if HasCoord: the host prefers the
	// nearest of equally shallow parents.
	Coord    Coord
	HasCoord bool
}

// StreamKbps is what one child costs a relay per speaker: an Opus stream
// at 32 kbit/s is about 55 kbit/s on the wire with RTP, SRTP, UDP and IP
// headers at 50 packets a second.
const StreamKbps = 55

// UplinkShare is the part of a measured uplink that relaying may use; the
// rest stays for the node's own traffic and for bursts.
const UplinkShare = 0.75

// CapacityFromUplink is how many children an uplink of kbps carries when
// each child receives streams audio streams.
func CapacityFromUplink(kbps, streams int) int {
	if kbps <= 0 {
		return 0
	}
	return clampCapacity(int(float64(kbps) * UplinkShare / float64(StreamKbps*max(streams, 1))))
}

// MaxBackups bounds the backup parents handed to one child.
const MaxBackups = 3

// Placer is the host's placement decision over its tree, with no I/O: the
// network side turns a node's place request into a PlaceRequest and signs
// the answer. The zero Streams and Backups reproduce Tree.Place.
type Placer struct {
	Tree *Tree
	// Streams is how many audio streams each child receives (the room's
	// audible speakers), for capacities derived from uplinks; <1 counts
	// as 1.
	Streams int
	// Backups is how many backup parents to hand each listener with its
	// assignment, up to MaxBackups.
	Backups int
	// RootBacksUp lets the tree's root be a backup: for a delegate's tree,
	// whose root is an always-on relay, not the host's.
	RootBacksUp bool
	// TURN says links can go through a TURN relay (the network's
	// always-on nodes run one): a pair that can neither dial nor punch
	// through to each other can still link, so a child is placed under
	// such a parent when no other parent has room, rather than refused.
	// Relay-only parents still come last.
	TURN bool
}

// PlaceRequest is a node asking the host for a parent.
type PlaceRequest struct {
	Child    peer.ID
	Capacity int // declared: the most children it will carry
	OnStage  bool
	// Avoid is the parent the child just lost; AvoidGone says the host
	// cannot reach it either, so it leaves the tree and its other children
	// will ask next.
	Avoid     peer.ID
	AvoidGone bool
	// Children are the children the node reports it carries, already
	// limited to room members: after a takeover the new host learns the
	// tree from the relays themselves.
	Children []peer.ID
	// Under is set when the child already hangs there: it failed over to
	// a backup parent its assignment named, and tells the host so that
	// the tree is right and it gets new backups.
	Under  peer.ID
	Traits Traits
	// RTTs are round trips the child measured to peers it knows (at most
	// MaxMeasuredRTTs are read): among parents that rank the same by
	// depth and hole punching, the one it measured nearest wins, before
	// coordinates' estimates and before nodes it did not measure.
	RTTs []PeerRTT
}

// PeerRTT is one round trip a node measured to a peer.
type PeerRTT struct {
	Peer peer.ID
	RTT  time.Duration
}

// MaxMeasuredRTTs bounds the measured round trips one place request
// carries: a handful of near peers is what helps, and the host looks each
// up in its tree.
const MaxMeasuredRTTs = 16

// measured is a child's measured round trips by peer, in milliseconds, as
// the ranking of candidates compares them.
type measured map[peer.ID]float64

func measuredOf(rtts []PeerRTT) measured {
	if len(rtts) == 0 {
		return nil
	}
	m := make(measured, min(len(rtts), MaxMeasuredRTTs))
	for _, r := range rtts[:min(len(rtts), MaxMeasuredRTTs)] {
		if r.RTT > 0 {
			m[r.Peer] = float64(r.RTT) / float64(time.Millisecond)
		}
	}
	return m
}

// moveUpGain is how many levels shallower a free place must be for a
// child that reports where it hangs (after a failover, or renewing its
// backups) to be moved there. Moving costs the child a new link and makes
// its subtree's backups stale for a while, so small gains are not worth it.
const moveUpGain = 2

// Move is a node the host moved while placing another: it needs a new
// assignment for its new parent.
type Move struct {
	Child, Parent peer.ID
}

// Placement is the host's answer to a PlaceRequest.
type Placement struct {
	Parent peer.ID
	// Backups are parents the child may link to without asking the host
	// when Parent is lost, best first (see Assignment.Backups).
	Backups []peer.ID
	// Moved are other nodes this placement moved (an always-on node took
	// their place and they now hang under it).
	Moved []Move
	// Orphans are the lost parent's children, when AvoidGone removed it.
	Orphans []peer.ID
}

// Place decides where req.Child hangs and records it in the tree. In
// order: a lost parent the host cannot reach leaves the tree; a child that
// already failed over to a valid backup stays there, unless a free place
// is moveUpGain levels shallower; speakers go under the root; everyone else under the best parent (see bestParent), where an
// always-on child may take the place of a shallower ordinary leaf, which
// then hangs under it; the reported children are adopted where that makes
// no loop; and listeners get backup parents.
func (p Placer) Place(req PlaceRequest) (Placement, error) {
	t := p.Tree
	var out Placement
	if req.Avoid != "" && req.AvoidGone && req.Avoid != t.root && req.Avoid != req.Child {
		out.Orphans = t.Remove(req.Avoid)
	}
	capacity := req.Capacity
	if req.Traits.UplinkKbps > 0 {
		capacity = min(capacity, CapacityFromUplink(req.Traits.UplinkKbps, p.Streams))
	}
	n, err := t.placing(req.Child, capacity, req.OnStage, req.Traits, func(*treeNode) Traits { return req.Traits })
	if err != nil {
		return Placement{}, err
	}
	var avoid []peer.ID
	if req.Avoid != "" {
		avoid = []peer.ID{req.Avoid}
	}
	near := measuredOf(req.RTTs)
	switch under, ok := t.nodes[req.Under]; {
	case req.Under != "" && ok && !req.OnStage && under.depth >= 0 && !below(under, n):
		// It stays where it failed over to, unless that is two levels or
		// more deeper than a free place: then it moves up (linking there
		// before it leaves), so that failovers do not deepen the tree.
		if best := t.bestParent(n, avoid, near); best != nil && best.depth+moveUpGain <= under.depth {
			under = best
		}
		t.attach(n, under)
	case req.OnStage:
		t.attach(n, t.nodes[t.root])
	default:
		best := t.bestParent(n, avoid, near)
		if best == nil && avoid != nil {
			// The parent it lost is better than none: the link may have
			// died with the path (a TURN relay, a circuit), not the
			// parent, and the host answering is proof that the root, at
			// least, lives.
			avoid = nil
			best = t.bestParent(n, nil, near)
		}
		if best == nil && p.TURN {
			best = t.turnParent(n, avoid)
		}
		if best == nil {
			return Placement{}, fmt.Errorf("place %s: %w", req.Child, ErrNoParent)
		}
		if leaf := t.promotion(n, best.depth, avoid); leaf != nil {
			best = leaf.up
			t.attach(n, best)
			t.attach(leaf, n)
			out.Moved = append(out.Moved, Move{Child: leaf.id, Parent: n.id})
		} else {
			t.attach(n, best)
		}
	}
	out.Parent = n.up.id
	for _, c := range req.Children {
		if _, known := t.Depth(c); !known {
			_ = t.Adopt(c, req.Child, 0)
		}
	}
	if !req.OnStage && p.Backups > 0 {
		out.Backups = t.chooseBackups(n, min(p.Backups, MaxBackups), avoid, p.RootBacksUp, near)
	}
	t.setBackups(n, out.Backups)
	return out, nil
}

// candidate is a possible parent and what ranks it: depth, then whether
// the link needs a hole punched (which fails for some pairs), then the
// RTT to the child (measured, else estimated from coordinates, else
// infinite), then the most spare room, then the smaller peer ID.
type candidate struct {
	n     *treeNode
	depth int
	punch bool
	rtt   float64
	spare int
}

func (a candidate) less(b candidate) bool {
	return cmp.Or(cmp.Compare(a.depth, b.depth), cmpBool(a.punch, b.punch), cmp.Compare(a.rtt, b.rtt),
		cmp.Compare(b.spare, a.spare), cmp.Compare(a.n.id, b.n.id)) < 0
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// needsPunch says whether a link between parent and child needs a hole
// punched: both behind NATs.
func needsPunch(parent, child *treeNode) bool {
	return !parent.traits.Reach.public() && !child.traits.Reach.public()
}

// rttTo is the round trip between child c and n: what c measured, which
// is the link's real path, else the estimate from both coordinates, else
// infinite (unknown sorts after every known one).
func rttTo(c, n *treeNode, near measured) float64 {
	if ms, ok := near[n.id]; ok {
		return ms
	}
	if !c.traits.HasCoord || !n.traits.HasCoord {
		return math.Inf(1)
	}
	return EstimateRTT(c.traits.Coord, n.traits.Coord)
}

// nearestOf is how many of the roomiest equally shallow parents of each
// class the nearest is chosen from, when the child has a coordinate:
// enough that a sample of a global audience holds near ones (of 16 nodes
// spread over three continents, one is on the child's with odds of
// 99.8%), few enough that a placement reads a few dozen nodes.
const nearestOf = 16

// bestParent is the best attached node that can take c: shallowest first;
// among equally shallow, a link needing no hole punch first; then the
// nearest (see rttTo) of the nearestOf roomiest of each class (in the
// index's order) when c has a coordinate, and of the peers c measured,
// else the roomiest, then the smaller peer ID; never in c's subtree or in
// avoid, always able to link with c; relay-only nodes only when nobody
// else can. c's current parent counts the slot c holds as free. nil if
// there is none.
func (t *Tree) bestParent(c *treeNode, avoid []peer.ID, near measured) *treeNode {
	var cur *treeNode // c's current parent, whose slot is free for c
	if c.up != nil && c.up.depth >= 0 {
		cur = c.up
	}
	limit := 1
	if c.traits.HasCoord {
		limit = nearestOf
	}
	var best candidate
	consider := func(n *treeNode) {
		if k, ok := t.fits(c, n, cur, avoid, near); ok && (best.n == nil || k.less(best)) {
			best = k
		}
	}
	search := func(classes []int, d int) {
		for _, class := range classes {
			found := 0
			t.scan(class, d, limit == 1, func(n *treeNode) bool {
				if n != cur { // cur is considered apart, with its room as c's
					if k, ok := t.fits(c, n, cur, avoid, near); ok {
						found++
						if best.n == nil || k.less(best) {
							best = k
						}
					}
				}
				return found < limit
			})
		}
		if cur != nil && cur.depth == d && slices.Contains(classes, t.classOf(cur)) {
			consider(cur)
		}
		t.considerMeasured(near, classes, d, consider)
	}
	classes := []int{classPublic}
	if c.traits.Reach != ReachRelayOnly {
		classes = append(classes, classPunchable)
	}
	depths := t.depths()
	if cur != nil {
		depths = max(depths, cur.depth+1)
	}
	for d := 0; d < depths && best.n == nil; d++ {
		search(classes, d)
	}
	if c.traits.Reach.public() {
		for d := 0; d < depths && best.n == nil; d++ {
			search([]int{classRelayOnly}, d)
		}
	}
	return best.n
}

// considerMeasured hands consider the peers the child measured that sit
// at depth d in one of classes: the scan reads only the roomiest of a
// depth, and a near one the child knows may be further down the heap.
func (t *Tree) considerMeasured(near measured, classes []int, d int, consider func(*treeNode)) {
	for id := range near {
		if n, ok := t.nodes[id]; ok && n.depth == d && slices.Contains(classes, t.classOf(n)) {
			consider(n)
		}
	}
}

// fits ranks n as a parent for c, or says it cannot be one.
func (t *Tree) fits(c, n, cur *treeNode, avoid []peer.ID, near measured) (candidate, bool) {
	spare := n.spare()
	if n == cur {
		spare++
	}
	if spare <= 0 || n == c || !canLink(n.traits.Reach, c.traits.Reach) || slices.Contains(avoid, n.id) {
		return candidate{}, false
	}
	if len(c.children) > 0 && below(n, c) {
		return candidate{}, false
	}
	return candidate{n: n, depth: n.depth, punch: needsPunch(n, c), rtt: rttTo(c, n, near), spare: spare}, true
}

// promotion is the ordinary leaf whose place always-on node c should take,
// if c would otherwise hang at depth parentDepth+1 and such a leaf sits no
// deeper than parentDepth: shallowest first, then the smallest capacity
// (the leaf wasting the place most), then the smaller peer ID. nil when c
// is not an always-on relay with room for the leaf, or none qualifies.
func (t *Tree) promotion(c *treeNode, parentDepth int, avoid []peer.ID) *treeNode {
	if !c.traits.AlwaysOn || c.traits.Reach == ReachRelayOnly || c.onStage || c.spare() < 1 {
		return nil
	}
	for d := 1; d <= parentDepth && d < len(t.leaves); d++ {
		var best *treeNode
		for _, l := range t.leaves[d] {
			if !t.canTakePlace(c, l, avoid) {
				continue
			}
			if best == nil || cmp.Or(cmp.Compare(l.capacity, best.capacity), cmp.Compare(l.id, best.id)) < 0 {
				best = l
			}
		}
		if best != nil {
			return best
		}
	}
	return nil
}

// canTakePlace says whether c may take leaf l's place, with l under c.
func (t *Tree) canTakePlace(c, l *treeNode, avoid []peer.ID) bool {
	p := l.up
	switch {
	case l == c || p == nil || p == c || slices.Contains(avoid, p.id):
		return false
	case !canLink(p.traits.Reach, c.traits.Reach) || !canLink(c.traits.Reach, l.traits.Reach):
		return false
	case t.classOf(p) == classRelayOnly:
		return false
	}
	return len(c.children) == 0 || !below(p, c)
}

// turnParent is the parent for c when no link without TURN is possible:
// the shallowest attached node with room, not relay-only if another will
// do, never in c's subtree or in avoid (unless nothing else is left);
// then the smaller peer ID. nil if nobody has room.
func (t *Tree) turnParent(c *treeNode, avoid []peer.ID) *treeNode {
	var best *treeNode
	rank := func(n *treeNode) (int, int, bool) {
		return cmpBool(n.traits.Reach == ReachRelayOnly, false), n.depth, slices.Contains(avoid, n.id)
	}
	for _, n := range t.nodes {
		if n == c || n.depth < 0 || n.spare() <= 0 || (len(c.children) > 0 && below(n, c)) {
			continue
		}
		if best == nil {
			best = n
			continue
		}
		ra, da, aa := rank(n)
		rb, db, ab := rank(best)
		if cmp.Or(cmpBool(aa, ab), cmp.Compare(ra, rb), cmp.Compare(da, db), cmp.Compare(n.id, best.id)) < 0 {
			best = n
		}
	}
	return best
}
