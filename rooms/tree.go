package rooms

import (
	"cmp"
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
// Only the host's node keeps one; it decides every placement, so the tree
// needs no agreement protocol. Not safe for concurrent use.
type Tree struct {
	root  peer.ID
	nodes map[peer.ID]*treeNode
}

type treeNode struct {
	parent   peer.ID // "" for the root, and for orphans waiting for a new parent
	capacity int
	children map[peer.ID]struct{}
}

// NewTree starts a tree with the host at its root.
func NewTree(root peer.ID, capacity int) *Tree {
	t := &Tree{root: root, nodes: map[peer.ID]*treeNode{}}
	t.nodes[root] = &treeNode{capacity: clampCapacity(capacity), children: map[peer.ID]struct{}{}}
	return t
}

func clampCapacity(c int) int { return min(max(c, 0), MaxRelayCapacity) }

// Root is the host.
func (t *Tree) Root() peer.ID { return t.root }

// Len counts the nodes below the root, orphans included.
func (t *Tree) Len() int { return len(t.nodes) - 1 }

// Parent is p's parent, and whether p is attached to the root through it.
func (t *Tree) Parent(p peer.ID) (peer.ID, bool) {
	n, ok := t.nodes[p]
	if !ok || n.parent == "" {
		return "", false
	}
	_, ok = t.Depth(p)
	return n.parent, ok
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
	d := 0
	for cur := p; cur != t.root; d++ {
		n, ok := t.nodes[cur]
		if !ok || n.parent == "" || d > len(t.nodes) {
			return 0, false
		}
		cur = n.parent
	}
	return d, true
}

// inSubtree reports whether p is x or hangs somewhere below x.
func (t *Tree) inSubtree(p, x peer.ID) bool {
	for cur, hops := p, 0; cur != "" && hops <= len(t.nodes); hops++ {
		if cur == x {
			return true
		}
		n, ok := t.nodes[cur]
		if !ok {
			return false
		}
		cur = n.parent
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
// tree always gives the same answer.
func (t *Tree) Place(child peer.ID, capacity int, onStage bool, avoid ...peer.ID) (peer.ID, error) {
	if child == t.root || child == "" {
		return "", fmt.Errorf("place %s: the host is the root of its own room", child)
	}
	n, known := t.nodes[child]
	if !known {
		n = &treeNode{children: map[peer.ID]struct{}{}}
	}
	n.capacity = clampCapacity(capacity)
	parent := t.root
	if !onStage {
		var err error
		if parent, err = t.bestParent(child, avoid); err != nil {
			return "", fmt.Errorf("place %s: %w", child, err)
		}
	}
	t.detach(child)
	t.nodes[child] = n
	n.parent = parent
	t.nodes[parent].children[child] = struct{}{}
	return parent, nil
}

func (t *Tree) bestParent(child peer.ID, avoid []peer.ID) (peer.ID, error) {
	type candidate struct {
		id           peer.ID
		depth, spare int
	}
	var best *candidate
	for id, n := range t.nodes {
		spare := n.capacity - len(n.children)
		if _, isChild := n.children[child]; isChild {
			spare++ // the child's current place is free for it
		}
		if spare <= 0 || slices.Contains(avoid, id) || t.inSubtree(id, child) {
			continue
		}
		depth, attached := t.Depth(id)
		if !attached {
			continue
		}
		c := candidate{id, depth, spare}
		if best == nil || cmp.Or(cmp.Compare(c.depth, best.depth), cmp.Compare(best.spare, c.spare),
			cmp.Compare(c.id, best.id)) < 0 {
			best = &c
		}
	}
	if best == nil {
		return "", ErrNoParent
	}
	return best.id, nil
}

// Adopt records that child hangs under parent without choosing: what a
// new host learns from nodes that report where they are after a takeover.
// It refuses a placement that would close a loop.
func (t *Tree) Adopt(child, parent peer.ID, capacity int) error {
	if child == t.root || child == parent {
		return fmt.Errorf("adopt %s under %s: would make a loop", child, parent)
	}
	if _, ok := t.nodes[parent]; !ok {
		return fmt.Errorf("adopt %s under %s: parent is not in the tree", child, parent)
	}
	if t.inSubtree(parent, child) {
		return fmt.Errorf("adopt %s under %s: parent hangs below the child", child, parent)
	}
	n, ok := t.nodes[child]
	if !ok {
		n = &treeNode{children: map[peer.ID]struct{}{}}
	}
	n.capacity = clampCapacity(capacity)
	t.detach(child)
	t.nodes[child] = n
	n.parent = parent
	t.nodes[parent].children[child] = struct{}{}
	return nil
}

// Remove takes p out of the tree. Its children stay, as orphans with their
// subtrees, until they ask for a new parent; they are returned.
func (t *Tree) Remove(p peer.ID) []peer.ID {
	n, ok := t.nodes[p]
	if !ok || p == t.root {
		return nil
	}
	t.detach(p)
	orphans := slices.Sorted(maps.Keys(n.children))
	for _, c := range orphans {
		t.nodes[c].parent = ""
	}
	delete(t.nodes, p)
	return orphans
}

// detach unhooks p from its parent, keeping p's own children.
func (t *Tree) detach(p peer.ID) {
	n, ok := t.nodes[p]
	if !ok || n.parent == "" {
		return
	}
	if parent, ok := t.nodes[n.parent]; ok {
		delete(parent.children, p)
	}
	n.parent = ""
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
