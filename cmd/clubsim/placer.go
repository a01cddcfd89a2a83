package main

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/rooms"
)

// placer is a node that places others: the host, or a delegate with the
// subtree it was delegated. It runs the real rooms.Tree and rooms.Placer;
// the simulation only carries its messages and counts them.
type placer struct {
	owner *node
	tree  *rooms.Tree
	load  *load
	busy  time.Duration // its CPU is busy with earlier messages until then
}

// load counts a placer's control messages: how many, bytes each way, CPU,
// and the tree's bytes per second of simulated time, for the peak.
type load struct {
	count         [kinds]int
	in, out       [kinds]int64
	cpu           [kinds]time.Duration
	bytesBySecond []int64
}

func (l *load) add(k kind, c *costs, at time.Duration, n int, extraOut int) {
	l.count[k] += n
	in, out := int64(c.in[k]*n), int64(c.out[k]*n+extraOut)
	l.in[k] += in
	l.out[k] += out
	l.cpu[k] += c.cpu[k] * time.Duration(n)
	if at >= 0 && k.category() != "admission+state" {
		s := int(at / time.Second)
		for len(l.bytesBySecond) <= s {
			l.bytesBySecond = append(l.bytesBySecond, 0)
		}
		l.bytesBySecond[s] += in + out
	}
}

// serve takes a message arriving at t that costs cpu and says when the
// answer leaves: the placer handles one message at a time.
func (p *placer) serve(t, cpu time.Duration) time.Duration {
	start := max(t, p.busy)
	p.busy = start + cpu
	return p.busy
}

// placerOf is the placement code p runs: the real rooms.Placer over its
// tree, whose root backs up when it is a delegate.
func (s *sim) placerOf(p *placer) rooms.Placer {
	return rooms.Placer{Tree: p.tree, Streams: s.m.Speakers, Backups: s.pol.Backups, RootBacksUp: p != s.hostPl}
}

// request is what n tells its placer about itself, under the policy.
func (s *sim) request(n *node) rooms.PlaceRequest {
	req := rooms.PlaceRequest{Child: n.id, Capacity: n.declared}
	if s.pol.Learned {
		req.Traits = rooms.Traits{UplinkKbps: n.uplink, Reach: n.reach, AlwaysOn: n.alwaysOn}
		switch s.pol.Near {
		case nearCoord:
			req.Traits.Coord, req.Traits.HasCoord = n.coord, true
		case nearMeasured:
			req.RTTs = s.measure(n)
		}
	}
	return req
}

// capacity is the number of children n carries: what it declares, bounded
// by its uplink when placement knows it.
func (s *sim) capacity(n *node) int {
	if s.pol.Learned && n.uplink > 0 {
		return min(n.declared, rooms.CapacityFromUplink(n.uplink, s.m.Speakers))
	}
	return n.declared
}

// ask sends req from n to placer p as a message of kind k; the placer
// decides when it arrives and then, when the answer is back at n, calls
// then with the placement.
func (s *sim) ask(n *node, p *placer, k kind, req rooms.PlaceRequest, then func(rooms.Placement, error)) {
	there := s.q.now + s.oneWay(n, p.owner)
	s.q.at(there, func() {
		done := p.serve(s.q.now, s.costs.cpu[k])
		p.load.add(k, s.costs, s.q.now, 1, 0)
		old := n.placer
		got, err := s.placerOf(p).Place(req)
		if err == nil {
			s.granted(n, p, got)
			if old != nil && old != p && old != s.hostPl && !old.owner.alive {
				s.transfer(n, old, p)
			}
		}
		s.q.at(done+s.oneWay(p.owner, n), func() { then(got, err) })
	})
}

// granted records what a placement handed out: the backups, moves of
// other nodes (each told by a message from the placer), and delegation
// when the host placed an always-on node right under itself.
func (s *sim) granted(n *node, p *placer, got rooms.Placement) {
	n.placer = p
	for _, b := range n.backups {
		delete(s.holders[b], n)
	}
	n.backups = n.backups[:0]
	for _, b := range got.Backups {
		if bn := s.byID[b]; bn != nil {
			n.backups = append(n.backups, bn)
			if s.holders[bn] == nil {
				s.holders[bn] = map[*node]struct{}{}
			}
			s.holders[bn][n] = struct{}{}
		}
	}
	n.backupWait = 0
	if s.pol.Backups > 0 && len(got.Backups) == 0 && !n.speaker && got.Parent != p.tree.Root() {
		// No backup had room when it was placed: ask again after a minute,
		// then after twice as long each time, while the tree moves on.
		wait := max(time.Minute, 2*n.backupWait)
		gen := n.gen
		s.q.after(wait, func() {
			if n.alive && n.gen == gen && n.placer != nil {
				n.backupWait = wait
				s.renew(n)
			}
		})
	}
	if len(n.backups) > 0 {
		gen := n.gen
		s.q.after(rooms.BackupLifetime-time.Minute, func() {
			if n.alive && n.gen == gen && n.placer != nil {
				s.renew(n)
			}
		})
		if s.pol.Standby && !s.m.linkWorks(n.backups[0], n) {
			// The standby link to the first backup could not connect:
			// ask for another.
			s.q.after(connectTimeout, func() {
				if n.alive && n.gen == gen {
					s.renew(n)
				}
			})
		}
	}
	for _, mv := range got.Moved {
		if moved := s.byID[mv.Child]; moved != nil {
			// The moved node links to its new parent before leaving the
			// old one: no gap, one assignment pushed to it.
			p.load.add(kRenew, s.costs, s.q.now, 1, 0)
			moved.gen++
		}
	}
	if s.pol.Delegate && p.owner == s.host && n.alwaysOn && n.own == nil && got.Parent == s.host.id {
		s.delegate(n)
	}
}

// renew asks n's placer for fresh backups, telling where n hangs.
func (s *sim) renew(n *node) {
	parent := s.parentOf(n)
	if parent == nil || n.placer == nil || !n.placer.owner.alive {
		return
	}
	req := s.request(n)
	req.Under = parent.id
	req.Capacity = s.reqCapacity(n)
	gen := n.gen
	s.ask(n, n.placer, kRenew, req, func(got rooms.Placement, err error) {
		if err == nil && got.Parent != parent.id && n.gen == gen && n.alive {
			n.gen++ // moved up: it links there before leaving its parent
			s.link(n, got.Parent, n.gen)
		}
	})
}

// reqCapacity is the capacity n declares to its placer: a delegate
// carries nobody in the host's tree, its children being in its own.
func (s *sim) reqCapacity(n *node) int {
	if n.own != nil {
		return 0
	}
	return n.declared
}

// delegate makes always-on node n, just placed under the host, a delegate
// with a tree of its own: the host signs a delegation, and from then on
// places nobody under n in its tree (n declares 0 there).
func (s *sim) delegate(n *node) {
	n.own = &placer{owner: n, tree: rooms.NewTree(n.id, min(n.declared, rooms.CapacityFromUplink(n.uplink, s.m.Speakers))),
		load: &load{}}
	s.delegates = append(s.delegates, n)
	s.hostPl.load.add(kDelegation, s.costs, s.q.now, 1, 0)
	req := s.request(n)
	req.Capacity, req.Under = 0, s.host.id
	_, _ = rooms.Placer{Tree: s.hostPl.tree, Streams: s.m.Speakers}.Place(req)
}

// refer is the delegate the host sends a joiner to, or nil to place it
// itself.
func (s *sim) refer(n *node, avoid *node) *node {
	var loads []rooms.DelegateLoad
	for _, d := range s.delegates {
		if d != avoid && d.alive {
			loads = append(loads, rooms.DelegateLoad{ID: d.id, Subtree: d.own.tree.Len(), Coord: d.coord,
				HasCoord: s.pol.Near == nearCoord})
		}
	}
	t := rooms.Traits{Coord: n.coord, HasCoord: s.pol.Near == nearCoord}
	id, ok := rooms.Refer(loads, t)
	if !ok {
		return nil
	}
	return s.byID[id]
}

// referred says whether the host refers n to a delegate rather than
// placing it: with delegation, everyone but an always-on node the host has
// room for right under itself (which becomes a delegate).
func (s *sim) referred(n *node) bool {
	if !s.pol.Delegate {
		return false
	}
	return !n.alwaysOn || len(s.hostPl.tree.Children(s.host.id)) >= s.m.HostCapacity
}

// placerFor is the placer n should ask: its own if alive, else the host.
func (s *sim) placerFor(n *node) *placer {
	if n.placer != nil && n.placer.owner.alive {
		return n.placer
	}
	return s.hostPl
}

// askParent has n ask its placer for a parent, or the host if it has none
// alive, which may refer it to a delegate (a referral, a new connection,
// then the delegate's answer). n reports its children, as roomnet does.
func (s *sim) askParent(n *node, k kind, avoid *node, gone bool, then func(*placer, rooms.Placement, error)) {
	req := s.request(n)
	req.Capacity = s.reqCapacity(n)
	if avoid != nil {
		req.Avoid, req.AvoidGone = avoid.id, gone
	}
	p := s.placerFor(n)
	if p == s.hostPl && s.referred(n) {
		if d := s.refer(n, avoid); d != nil {
			s.referTo(n, d, k, req, then)
			return
		}
	}
	req.Children = s.childIDs(n)
	s.ask(n, p, k, req, func(got rooms.Placement, err error) { then(p, got, err) })
}

// referTo is the host's referral of n to delegate d and n's request there.
// A joiner's referral rides in the reply to its room join when the policy
// says so: no exchange of its own.
func (s *sim) referTo(n, d *node, k kind, req rooms.PlaceRequest, then func(*placer, rooms.Placement, error)) {
	inJoin := k == kJoinPlace && s.pol.ReferInJoin
	there := s.q.now + s.oneWay(n, s.host)
	if inJoin {
		there = s.q.now
	}
	s.q.at(there, func() {
		rk := kReferral
		if inJoin {
			rk = kReferJoin
		}
		done := s.hostPl.serve(s.q.now, s.costs.cpu[rk])
		s.hostPl.load.add(rk, s.costs, s.q.now, 1, 0)
		back := done + connRTTs*s.rtt(n, d)
		if !inJoin {
			back += s.oneWay(s.host, n)
		}
		s.q.at(back, func() {
			if !d.alive {
				s.q.after(retryBackoff, func() { s.askParent(n, k, d, true, then) })
				return
			}
			req.Children = s.childIDs(n)
			s.ask(n, d.own, k, req, func(got rooms.Placement, err error) { then(d.own, got, err) })
		})
	})
}

// transfer moves the knowledge of n's subtree from the tree of n's dead
// delegate old into p's, parents first, each node as if it reported where
// it hangs (Under) and got new backups there: the relays below n report
// to their new delegate, which costs the delegate messages, not the host.
func (s *sim) transfer(n *node, old, p *placer) {
	queue := []*node{n}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, cid := range old.tree.Children(x.id) {
			c := s.byID[cid]
			if c == nil || !c.alive || c.placer != old {
				continue
			}
			req := s.request(c)
			req.Capacity, req.Under = s.reqCapacity(c), x.id
			got, err := s.placerOf(p).Place(req)
			if err != nil {
				continue // it will ask when its link fails
			}
			p.load.add(kRenew, s.costs, -1, 1, 0)
			s.granted(c, p, got)
			if got.Parent != x.id {
				c.gen++ // moved up: it links there before leaving x
				s.link(c, got.Parent, c.gen)
			}
			queue = append(queue, c)
		}
	}
}

// childIDs are n's children as n reports them.
func (s *sim) childIDs(n *node) []peer.ID {
	if n.placer == nil {
		return nil
	}
	return n.placer.tree.Children(n.id)
}
