package rooms

import (
	"cmp"
	"container/heap"
	"slices"
)

// The tree's index: each node's depth is kept up to date as subtrees move,
// and every attached node with spare room is listed by the class of links
// it can take (public, punchable, relay-only), its depth and its spare
// room, in a min-heap by peer ID. A placement reads the shallowest depth
// first and, within it, the nodes in the tie-break order of placement
// (most room, then the smaller ID) straight off the heaps, so it touches a
// handful of nodes instead of every node. Childless ordinary nodes are
// listed by depth too: the leaves an always-on node may take the place
// of. Heaps and lists know each node's position, so every change is
// O(log n).

// detached is the depth of a node that is not attached to the root.
const detached = -1

// Link classes of parents, by the Reach they report: relay-only nodes are
// a last resort, searched only when no other node can take the child.
const (
	classPublic = iota
	classPunchable
	classRelayOnly
	linkClasses
)

func (t *Tree) classOf(n *treeNode) int {
	switch {
	case n.id == t.root || n.traits.Reach.public():
		return classPublic
	case n.traits.Reach == ReachPunchable:
		return classPunchable
	}
	return classRelayOnly
}

// openSlot is where a node is listed as a parent: class, depth, spare and
// position in that heap; class is unlisted when it is not.
type openSlot struct{ class, depth, spare, pos int }

const unlisted = -1

// leafSlot is a node's place in the leaves list of its depth.
type leafSlot struct{ depth, pos int }

type index struct {
	open   [linkClasses][]*levelIndex // by class, then depth
	leaves [][]*treeNode              // by depth
}

// levelIndex is one class at one depth: a heap by ID per spare room.
type levelIndex struct {
	bySpare []idHeap
	count   int
}

// reindex lists n as its depth, room and traits call for.
func (t *Tree) reindex(n *treeNode) {
	want := openSlot{class: unlisted}
	if n.depth >= 0 && n.spare() > 0 {
		want = openSlot{class: t.classOf(n), depth: n.depth, spare: n.spare()}
	}
	if cur := n.open; cur.class != want.class || cur.depth != want.depth || cur.spare != want.spare {
		t.unlistOpen(n)
		if want.class != unlisted {
			li := t.level(want.class, want.depth)
			for len(li.bySpare) <= want.spare {
				li.bySpare = append(li.bySpare, nil)
			}
			n.open = want
			heap.Push(&li.bySpare[want.spare], n)
			li.count++
		}
	}
	leaf := unlisted
	if n.depth >= 0 && len(n.children) == 0 && !n.traits.AlwaysOn && !n.onStage && n.id != t.root {
		leaf = n.depth
	}
	if n.leaf.depth != leaf {
		t.unlistLeaf(n)
		if leaf != unlisted {
			for len(t.leaves) <= leaf {
				t.leaves = append(t.leaves, nil)
			}
			n.leaf = leafSlot{depth: leaf, pos: len(t.leaves[leaf])}
			t.leaves[leaf] = append(t.leaves[leaf], n)
		}
	}
}

// unlist takes n out of the index.
func (t *Tree) unlist(n *treeNode) {
	t.unlistOpen(n)
	t.unlistLeaf(n)
}

func (t *Tree) unlistOpen(n *treeNode) {
	s := n.open
	if s.class == unlisted {
		return
	}
	li := t.open[s.class][s.depth]
	heap.Remove(&li.bySpare[s.spare], s.pos)
	li.count--
	n.open = openSlot{class: unlisted}
}

func (t *Tree) unlistLeaf(n *treeNode) {
	s := n.leaf
	if s.depth == unlisted {
		return
	}
	l := t.leaves[s.depth]
	last := len(l) - 1
	l[s.pos] = l[last]
	l[s.pos].leaf.pos = s.pos
	l[last] = nil
	t.leaves[s.depth] = l[:last]
	n.leaf = leafSlot{depth: unlisted}
}

// level is the index of one class at one depth, made on first use.
func (t *Tree) level(class, depth int) *levelIndex {
	byDepth := &t.open[class]
	for len(*byDepth) <= depth {
		*byDepth = append(*byDepth, &levelIndex{})
	}
	return (*byDepth)[depth]
}

// depths is one past the deepest depth that lists a parent of any class.
func (t *Tree) depths() int {
	d := 0
	for _, byDepth := range t.open {
		d = max(d, len(byDepth))
	}
	return d
}

// scan visits the parents of one class at one depth, most room first,
// until visit returns false. Nodes with the same room come by ID when
// byID is set, else in heap order: deterministic, and cheaper when the
// caller ranks what it visits by something else anyway.
func (t *Tree) scan(class, depth int, byID bool, visit func(*treeNode) bool) {
	if depth >= len(t.open[class]) {
		return
	}
	li := t.open[class][depth]
	for s := len(li.bySpare) - 1; s > 0 && li.count > 0; s-- {
		if byID {
			if !li.bySpare[s].ascend(visit) {
				return
			}
			continue
		}
		for _, n := range li.bySpare[s] {
			if !visit(n) {
				return
			}
		}
	}
}

// setDepths gives n depth d (detached, or hops from the root) and its
// subtree the depths that follow, reindexing each node. Subtrees whose
// depth does not change are left alone. Children are visited by ID, not
// in map order, so that the heaps' layout (which scan may read in) is the
// same for the same history.
func (t *Tree) setDepths(n *treeNode, d int) {
	n.depth = d
	stack := []*treeNode{n}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		t.reindex(cur)
		next := detached
		if cur.depth >= 0 {
			next = cur.depth + 1
		}
		from := len(stack)
		for _, c := range cur.children {
			if c.depth != next {
				c.depth = next
				stack = append(stack, c)
			}
		}
		slices.SortFunc(stack[from:], func(a, b *treeNode) int { return cmp.Compare(b.id, a.id) })
	}
}

// idHeap is a min-heap of nodes by peer ID that keeps each node's position.
type idHeap []*treeNode

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return h[i].id < h[j].id }
func (h idHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].open.pos, h[j].open.pos = i, j
}
func (h *idHeap) Push(x any) {
	n := x.(*treeNode)
	n.open.pos = len(*h)
	*h = append(*h, n)
}
func (h *idHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return n
}

// ascend visits the heap's nodes in ID order until visit returns false, and
// says whether it ran to the end. It walks the heap best first, so reading
// the k smallest costs O(k log k) whatever the heap's size.
func (h idHeap) ascend(visit func(*treeNode) bool) bool {
	if len(h) == 0 {
		return true
	}
	next := &positions{h: h, at: []int{0}}
	for next.Len() > 0 {
		i := heap.Pop(next).(int)
		if !visit(h[i]) {
			return false
		}
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < len(h) {
				heap.Push(next, c)
			}
		}
	}
	return true
}

// positions is the frontier of ascend: heap positions, smallest ID first.
type positions struct {
	h  idHeap
	at []int
}

func (p *positions) Len() int           { return len(p.at) }
func (p *positions) Less(i, j int) bool { return p.h[p.at[i]].id < p.h[p.at[j]].id }
func (p *positions) Swap(i, j int)      { p.at[i], p.at[j] = p.at[j], p.at[i] }
func (p *positions) Push(x any)         { p.at = append(p.at, x.(int)) }
func (p *positions) Pop() any {
	x := p.at[len(p.at)-1]
	p.at = p.at[:len(p.at)-1]
	return x
}
