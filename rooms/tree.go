package rooms

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// MaxRelayCapacity bounds the children one node may declare it carries.
const MaxRelayCapacity = 256

// ErrNoParent: no node in the tree has room for another child.
var ErrNoParent = errors.New("no relay with spare capacity")

// Tree is the host's picture of a room's relay tree: who hangs under whom
// and how many children each node offered to carry. The host is the root.
// Only the host's node keeps one (or a delegate, for its subtree); it
// decides every placement, so the tree needs no agreement protocol. Not
// safe for concurrent use.
//
// Besides the links the tree keeps an index (treeindex.go): every node's
// depth, and the attached nodes with spare room by depth in placement
// order, so that a placement reads a few nodes instead of scanning every
// node: at 100,000 nodes that is the difference between tens of
// milliseconds and microseconds per placement.
type Tree struct {
	root  peer.ID
	nodes map[peer.ID]*treeNode
	index
}

type treeNode struct {
	id       peer.ID
	up       *treeNode // nil for the root, and for orphans waiting for a new parent
	capacity int
	children map[peer.ID]*treeNode
	depth    int // hops from the root; detached (-1) while it or an ancestor is an orphan
	onStage  bool
	traits   Traits
	backups  []peer.ID // the backup parents it was last handed
	backing  int       // how many nodes hold it as a backup
	open     openSlot  // its place in the index as a parent
	leaf     leafSlot  // and as a leaf
}

func (n *treeNode) spare() int { return n.capacity - len(n.children) }

// NewTree starts a tree with the host at its root.
func NewTree(root peer.ID, capacity int) *Tree {
	t := &Tree{root: root, nodes: map[peer.ID]*treeNode{}}
	n := t.newNode(root)
	n.capacity, n.depth = clampCapacity(capacity), 0
	t.nodes[root] = n
	t.reindex(n)
	return t
}

func (t *Tree) newNode(id peer.ID) *treeNode {
	return &treeNode{id: id, children: map[peer.ID]*treeNode{}, depth: detached,
		open: openSlot{class: unlisted}, leaf: leafSlot{depth: unlisted}}
}

func clampCapacity(c int) int { return min(max(c, 0), MaxRelayCapacity) }

// Root is the host.
func (t *Tree) Root() peer.ID { return t.root }

// SetRootTraits records what the root (the host) is, as nodes' place
// requests say it of themselves: whether others can reach it decides who
// can hang under it.
func (t *Tree) SetRootTraits(tr Traits) {
	n := t.nodes[t.root]
	n.traits = tr
	t.reindex(n)
}

// Len counts the nodes below the root, orphans included.
func (t *Tree) Len() int { return len(t.nodes) - 1 }

// Parent is p's parent, and whether p is attached to the root through it.
func (t *Tree) Parent(p peer.ID) (peer.ID, bool) {
	n, ok := t.nodes[p]
	if !ok || n.up == nil {
		return "", false
	}
	return n.up.id, n.depth >= 0
}

// Children lists p's children in a stable order.
func (t *Tree) Children(p peer.ID) []peer.ID {
	n, ok := t.nodes[p]
	if !ok {
		return nil
	}
	return slices.Sorted(maps.Keys(n.children))
}

// Depth is the number of hops from the root to p; false if p is unknown or
// hangs under an orphan.
func (t *Tree) Depth(p peer.ID) (int, bool) {
	n, ok := t.nodes[p]
	if !ok || n.depth < 0 {
		return 0, false
	}
	return n.depth, true
}

// inSubtree reports whether p is x or hangs somewhere below x.
func (t *Tree) inSubtree(p, x peer.ID) bool {
	n, ok := t.nodes[p]
	if !ok {
		return false
	}
	xn, ok := t.nodes[x]
	return ok && below(n, xn)
}

// below reports whether n is x or one of x's descendants. When both are
// attached, only the hops between their depths need walking.
func below(n, x *treeNode) bool {
	if n.depth >= 0 && x.depth >= 0 && n.depth < x.depth {
		return false
	}
	for cur := n; cur != nil; cur = cur.up {
		if cur == x {
			return true
		}
		if cur.depth >= 0 && x.depth >= 0 && cur.depth <= x.depth {
			return false
		}
	}
	return false
}

// Place finds child a parent and records it there. A child already in the
// tree keeps its own children: its whole subtree moves with it. Nodes on
// stage hang directly under the root whatever its capacity, so speakers
// are one hop from the host. Everyone else goes under the shallowest node
// with spare capacity that is attached to the root, not in child's own
// subtree and not in avoid (the parent the child just lost); ties go to the
// node with the most spare room, then to the smaller peer ID, so the same
// tree always gives the same answer. Placer.Place is the same decision
// with what the host knows about the nodes besides their capacity.
func (t *Tree) Place(child peer.ID, capacity int, onStage bool, avoid ...peer.ID) (peer.ID, error) {
	n, err := t.placing(child, capacity, onStage, Traits{}, func(n *treeNode) Traits { return n.traits })
	if err != nil {
		return "", err
	}
	parent := t.nodes[t.root]
	if !onStage {
		if parent = t.bestParent(n, avoid, nil); parent == nil {
			return "", fmt.Errorf("place %s: %w", child, ErrNoParent)
		}
	}
	t.attach(n, parent)
	return parent.id, nil
}

// placing is the node child is about to be placed as: the one already in
// the tree, or a new one, with its capacity, stage flag and traits updated
// (traits picks them from the known node, or gives the new ones).
func (t *Tree) placing(child peer.ID, capacity int, onStage bool, fresh Traits, traits func(*treeNode) Traits) (*treeNode, error) {
	if child == t.root || child == "" {
		return nil, fmt.Errorf("place %s: the host is the root of its own room", child)
	}
	n, known := t.nodes[child]
	if !known {
		n = t.newNode(child)
		n.traits = fresh
	} else {
		n.traits = traits(n)
	}
	n.capacity, n.onStage = clampCapacity(capacity), onStage
	if known {
		t.reindex(n)
	}
	return n, nil
}

// Adopt records that child hangs under parent without choosing: what a
// new host learns from nodes that report where they are after a takeover.
// It refuses a placement that would close a loop.
func (t *Tree) Adopt(child, parent peer.ID, capacity int) error {
	if child == t.root || child == parent {
		return fmt.Errorf("adopt %s under %s: would make a loop", child, parent)
	}
	pn, ok := t.nodes[parent]
	if !ok {
		return fmt.Errorf("adopt %s under %s: parent is not in the tree", child, parent)
	}
	if t.inSubtree(parent, child) {
		return fmt.Errorf("adopt %s under %s: parent hangs below the child", child, parent)
	}
	n, ok := t.nodes[child]
	if !ok {
		n = t.newNode(child)
	}
	n.capacity = clampCapacity(capacity)
	t.attach(n, pn)
	return nil
}

// Remove takes p out of the tree. Its children stay, as orphans with their
// subtrees, until they ask for a new parent; they are returned.
func (t *Tree) Remove(p peer.ID) []peer.ID {
	n, ok := t.nodes[p]
	if !ok || p == t.root {
		return nil
	}
	t.unhook(n)
	t.unlist(n)
	t.setBackups(n, nil)
	orphans := slices.Sorted(maps.Keys(n.children))
	for _, c := range orphans {
		cn := n.children[c]
		cn.up = nil
		t.setDepths(cn, detached)
	}
	delete(t.nodes, p)
	return orphans
}

// Demote makes p a leaf for good: capacity 0, so that nobody is placed
// under it again, and its children orphaned (returned), to be placed
// elsewhere when they ask. The host demotes a relay proven to change the
// audio it forwards; p itself stays where it is, a listener.
func (t *Tree) Demote(p peer.ID) []peer.ID {
	n, ok := t.nodes[p]
	if !ok || p == t.root {
		return nil
	}
	n.capacity = 0
	orphans := slices.Sorted(maps.Keys(n.children))
	for _, c := range orphans {
		cn := n.children[c]
		delete(n.children, c)
		cn.up = nil
		t.setDepths(cn, detached)
	}
	t.reindex(n)
	return orphans
}

// attach hangs n under parent, keeping n's own children, and records n in
// the tree if it was not yet.
func (t *Tree) attach(n, parent *treeNode) {
	t.unhook(n)
	t.nodes[n.id] = n
	n.up = parent
	parent.children[n.id] = n
	t.reindex(parent)
	d := detached
	if parent.depth >= 0 {
		d = parent.depth + 1
	}
	t.setDepths(n, d)
}

// unhook takes n off its parent's children, leaving n's depths to the
// caller.
func (t *Tree) unhook(n *treeNode) {
	if n.up == nil {
		return
	}
	delete(n.up.children, n.id)
	t.reindex(n.up)
	n.up = nil
}

// Nodes lists every node below the root.
func (t *Tree) Nodes() []peer.ID {
	out := make([]peer.ID, 0, len(t.nodes)-1)
	for id := range t.nodes {
		if id != t.root {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// SetCapacity changes how many children p says it carries now, without
// moving anyone: a relay whose uplink shows it cannot carry its children
// reports less, and the host places nobody new under it until it reports
// more again. Children over the new capacity stay where they are. False if
// p is unknown or the root.
func (t *Tree) SetCapacity(p peer.ID, capacity int) bool {
	n, ok := t.nodes[p]
	if !ok || p == t.root {
		return false
	}
	n.capacity = clampCapacity(capacity)
	t.reindex(n)
	return true
}

// Capacity is how many children p carries by what it last reported.
func (t *Tree) Capacity(p peer.ID) (int, bool) {
	n, ok := t.nodes[p]
	if !ok {
		return 0, false
	}
	return n.capacity, true
}
