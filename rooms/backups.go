package rooms

import (
	"cmp"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Backup parents. When a relay dies silently its children notice only by
// timeouts, and asking the host for a new parent then costs a round trip
// to the host and a new link: the repair gap is detection + place + link.
// With backups the host names, with the assignment, one or more other
// nodes a child may link to straight away (the signed assignment is what
// the backup parent checks: see Assignment.CheckBackup); the child keeps
// a standby link to the first, so failing over costs detection plus one
// round trip to the backup, and it tells the host where it went
// afterwards (PlaceRequest.Under) to get new backups.
//
// A backup is useless if it dies with the parent, so backups are never in
// the parent's subtree. It must have room when the child comes, and the
// tree fills any spare place within minutes, so a backup parent takes a
// failing-over child up to BackupHeadroom over its capacity (capacities
// from uplinks use three quarters of the uplink); that also makes full
// nodes near the child, its grandparent first, good backups. Siblings
// fail over together, so the host spreads their backups: a node backs at
// most as many children of one parent as it has room for, and at most
// BackupOvercommit times that in all (families rarely fail at once, and a
// used place frees again when one of its children leaves). Failing over
// to a standby backup costs detection plus one round trip to it, so
// backups rank by what makes that short: no deeper than the parent, then
// the nearest, then as parents (no hole punch, shallowest, roomiest). They come from the parent's near relatives
// and the backupsOf roomiest nodes of each class at each depth above the
// child. The host is never one, its uplink carries the stage; the root of
// a delegate's tree may be (Placer.RootBacksUp). Grants go stale as the tree changes: a backup refuses a child it
// has no room for, or that is one of its own ancestors (it would close a
// loop), and the child then asks the host as before.

// BackupHeadroom is how many children over its capacity a relay takes
// when they fail over to it as their backup; an always-on relay takes a
// quarter of its capacity more (its uplink is ample: it declares a
// capacity far below what the uplink carries).
const BackupHeadroom = 1

// FailoverCapacity is how many children a relay of capacity capacity
// carries when some of them failed over to it: what a backup parent checks
// before it takes a child without asking the host.
func FailoverCapacity(capacity int, alwaysOn bool) int {
	if capacity <= 0 {
		return 0
	}
	if alwaysOn {
		return capacity + max(BackupHeadroom, capacity/4)
	}
	return capacity + BackupHeadroom
}

// BackupOvercommit is how many children a relay backs per place it has
// for them.
const BackupOvercommit = 4

// setBackups records n's backups, keeping each backup's count.
func (t *Tree) setBackups(n *treeNode, backups []peer.ID) {
	for _, b := range n.backups {
		if bn, ok := t.nodes[b]; ok {
			bn.backing--
		}
	}
	n.backups = backups
	for _, b := range backups {
		if bn, ok := t.nodes[b]; ok {
			bn.backing++
		}
	}
}

// Backups lists the backup parents p was last handed.
func (t *Tree) Backups(p peer.ID) []peer.ID {
	if n, ok := t.nodes[p]; ok {
		return slices.Clone(n.backups)
	}
	return nil
}

// chooseBackups picks up to want backup parents for c, which hangs under
// its parent already.
func (t *Tree) chooseBackups(c *treeNode, want int, avoid []peer.ID, rootBacks bool, near measured) []peer.ID {
	p := c.up
	if p == nil || c.depth < 0 || want <= 0 {
		return nil
	}
	load := map[*treeNode]int{} // siblings holding each node as a backup already
	for _, s := range p.children {
		if s == c {
			continue
		}
		for _, b := range s.backups {
			if bn, ok := t.nodes[b]; ok {
				load[bn]++
			}
		}
	}
	eligible := func(n *treeNode) (candidate, bool) {
		free := FailoverCapacity(n.capacity, n.traits.AlwaysOn) - len(n.children)
		room := free - load[n]
		if n.capacity <= 0 || room <= 0 || n.backing >= BackupOvercommit*free ||
			n == c || n == p || (n.id == t.root && !rootBacks) ||
			!canLink(n.traits.Reach, c.traits.Reach) || slices.Contains(avoid, n.id) || below(n, p) {
			return candidate{}, false
		}
		return candidate{n: n, depth: n.depth, punch: needsPunch(n, c), rtt: rttTo(c, n, near), spare: room}, true
	}
	var picked []candidate
	consider := func(n *treeNode) {
		if k, ok := eligible(n); ok && !slices.ContainsFunc(picked, func(x candidate) bool { return x.n == n }) {
			picked = insertTop(picked, k, want, backupLess(c.depth))
		}
	}
	// Near relatives, full or not: the grandparent, its children (the
	// parent's siblings) and the great-grandparent.
	if g := p.up; g != nil {
		consider(g)
		for _, u := range g.children {
			consider(u)
		}
		if g.up != nil {
			consider(g.up)
		}
	}
	for id := range near { // the peers it measured: near ones make quick failovers
		if n, ok := t.nodes[id]; ok && n.depth >= 0 && t.classOf(n) != classRelayOnly {
			consider(n)
		}
	}
	t.scanBackups(c, want, &picked, consider)
	out := make([]peer.ID, len(picked))
	for i, k := range picked {
		out[i] = k.n.id
	}
	return out
}

// backupLess ranks backups for a child at depth: those no deeper than its
// parent first (failing over to them does not make the child's subtree
// deeper), then the nearest (the round trip is most of the failover), then
// as parents rank. A hole punch that fails shows on the standby link long
// before it is needed, so it counts after nearness here.
func backupLess(depth int) func(a, b candidate) bool {
	return func(a, b candidate) bool {
		if c := cmp.Or(cmpBool(a.depth >= depth, b.depth >= depth), cmp.Compare(a.rtt, b.rtt)); c != 0 {
			return c < 0
		}
		return a.less(b)
	}
}

// backupsOf is how many nodes of each class at each depth the search for
// backups reads from the index, besides the near relatives.
const backupsOf = 8

// scanBackups adds candidates from the index: every depth above the
// child's, and deeper only while the picks are short.
func (t *Tree) scanBackups(c *treeNode, want int, picked *[]candidate, consider func(*treeNode)) {
	classes := []int{classPublic}
	if c.traits.Reach != ReachRelayOnly {
		classes = append(classes, classPunchable)
	}
	pass := func(classes []int) {
		for d := 0; d < t.depths(); d++ {
			if len(*picked) == want && d >= c.depth {
				return
			}
			for _, class := range classes {
				seen := 0
				t.scan(class, d, false, func(n *treeNode) bool {
					consider(n)
					seen++
					return seen < backupsOf
				})
			}
		}
	}
	pass(classes)
	if len(*picked) < want && c.traits.Reach.public() {
		pass([]int{classRelayOnly}) // relay-only nodes as a last resort, as for parents
	}
}

// insertTop adds c to top, kept best first by less and at most k long.
func insertTop(top []candidate, c candidate, k int, less func(a, b candidate) bool) []candidate {
	if len(top) == k && !less(c, top[k-1]) {
		return top
	}
	i, _ := slices.BinarySearchFunc(top, c, func(a, b candidate) int {
		if less(a, b) {
			return -1
		}
		return 1
	})
	top = slices.Insert(top, i, c)
	if len(top) > k {
		top = top[:k]
	}
	return top
}
