package main

import (
	"cmp"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/rooms"
)

// sim is one run: a model, a policy, and the world as it goes.
type sim struct {
	m         Model
	pol       Policy
	q         eventQueue
	pop       *population
	host      *node
	hostPl    *placer
	delegates []*node
	byID      map[peer.ID]*node
	holders   map[*node]map[*node]struct{} // backup parent → the nodes holding it now
	nodes     []*node
	st        *stats
	costs     *costs
	speech    *speech
	jit       *rand.Rand // exchange jitter and detector phases
	fail      *rand.Rand // always-on failures
	nearRNG   *rand.Rand // whom nodes measured, and the pings' jitter
	stamp     int        // snapshot number, for pathOf's memo
}

const snapshotEvery = 5 * time.Minute

func newSim(m Model, pol Policy, c *costs) *sim {
	s := &sim{m: m, pol: pol, pop: newPopulation(m), byID: map[peer.ID]*node{}, holders: map[*node]map[*node]struct{}{},
		st: newStats(), costs: c, speech: newSpeech(m, m.Duration+time.Hour),
		jit: rand.New(rand.NewPCG(m.Seed, 0x717)), fail: rand.New(rand.NewPCG(m.Seed, 0xfa11)),
		nearRNG: rand.New(rand.NewPCG(m.Seed, 0x4ea7))}
	s.host = s.pop.draw(true, 0)
	s.host.x, s.host.y, s.host.declared = 0, 0, m.HostCapacity
	s.host.coord.X, s.host.coord.Y = 0, 0
	s.host.alive, s.host.joined, s.host.hearing = true, true, true
	s.byID[s.host.id] = s.host
	s.hostPl = &placer{owner: s.host, tree: rooms.NewTree(s.host.id, m.HostCapacity), load: &load{}}
	return s
}

// run simulates the model under the policy and returns what it measured.
func (s *sim) run() *result {
	s.warmStart()
	s.hostPl.load = &load{} // the warm start is not measured
	for _, d := range s.delegates {
		d.own.load = &load{}
	}
	s.scheduleArrival()
	for t := snapshotEvery; t <= s.m.Duration; t += snapshotEvery {
		s.q.at(t, s.snapshot)
	}
	for t := rooms.DelegationLifetime / 2; t < s.m.Duration; t += rooms.DelegationLifetime / 2 {
		s.q.at(t, func() { s.hostPl.load.add(kDelegation, s.costs, s.q.now, len(s.delegates), 0) })
	}
	s.q.run(s.m.Duration)
	return s.result()
}

// warmStart fills the room as it would be at a random moment of steady
// state: speakers on stage, the always-on nodes, and (unless this is a
// flash crowd) Listeners listeners with what remains of their sessions,
// placed one after another with the same code but no messages.
func (s *sim) warmStart() {
	for range s.m.Speakers {
		n := s.pop.draw(false, 0)
		n.leave, n.declared, n.speaker = math.MaxInt64, 0, true
		s.register(n)
		req := s.request(n)
		req.OnStage = true
		got, _ := rooms.Placer{Tree: s.hostPl.tree}.Place(req)
		s.granted(n, s.hostPl, got)
		n.joined, n.hearing = true, true
	}
	alwaysOn := int(math.Round(s.m.AlwaysOnShare * float64(s.m.Listeners)))
	for range alwaysOn {
		s.warmJoin(s.pop.draw(true, 0))
	}
	if s.m.Flash > 0 {
		return
	}
	for range s.m.Listeners {
		n := s.pop.draw(false, 0)
		n.leave = s.pop.residual()
		s.warmJoin(n)
	}
}

func (s *sim) register(n *node) {
	n.alive = true
	if _, known := s.byID[n.id]; !known {
		s.byID[n.id] = n
		s.nodes = append(s.nodes, n)
	}
	if !n.speaker {
		s.st.present++
	}
}

func (s *sim) warmJoin(n *node) {
	s.register(n)
	p := s.hostPl
	if s.referred(n) {
		if d := s.refer(n, nil); d != nil {
			p = d.own
		}
	}
	req := s.request(n)
	got, err := s.placerOf(p).Place(req)
	if err != nil {
		s.st.noParent++
		n.alive = false
		s.st.present--
		return
	}
	s.granted(n, p, got)
	n.joined, n.hearing, n.warm = true, true, true
	s.scheduleLeave(n)
}

func (s *sim) scheduleLeave(n *node) {
	if n.leave < s.m.Duration {
		gen := n.life
		s.q.at(n.leave, func() {
			if n.life == gen {
				s.depart(n)
			}
		})
	}
}

// scheduleArrival draws the next listener and schedules its arrival,
// which schedules the one after.
func (s *sim) scheduleArrival() {
	n := s.pop.arrival()
	if n.arrive > s.m.Duration {
		return
	}
	s.q.at(n.arrive, func() {
		s.scheduleArrival()
		s.arrive(n)
	})
}

// arrive is a listener (or an always-on node coming back) joining: a new
// connection to the host, the room join (its reply is the new state,
// which the host also publishes), then a parent.
func (s *sim) arrive(n *node) {
	s.register(n)
	s.admit(n, kJoinRoom)
	s.scheduleLeave(n)
	s.join(n)
}

// admit counts today's room protocol at the host for a join or a leave:
// the connection (joins), the request and the state in reply, and the
// state published to every connected subscriber (flood publish, at most
// the 400 connections the host keeps).
func (s *sim) admit(n *node, k kind) {
	l, now := s.hostPl.load, s.q.now
	audience := s.st.present
	if k == kJoinRoom {
		l.add(kConnect, s.costs, now, 1, 0)
	}
	state := s.costs.stateBytes(audience)
	l.add(k, s.costs, now, 1, state+exchangeOverhead/2)
	l.add(kState, s.costs, now, 1, state*min(audience, 400))
	l.cpu[kState] += s.costs.signState(audience)
}

// join asks for a parent and links to it.
func (s *sim) join(n *node) {
	n.gen++
	gen := n.gen
	s.askParent(n, kJoinPlace, nil, false, func(p *placer, got rooms.Placement, err error) {
		if n.gen != gen || !n.alive {
			return
		}
		if err != nil {
			s.retry(n, kRetry, nil, false)
			return
		}
		s.link(n, got.Parent, gen)
	})
}

// retry asks again after roomnet's backoff, up to a limit.
func (s *sim) retry(n *node, k kind, avoid *node, gone bool) {
	if n.attempts++; n.attempts > 40 {
		s.st.noParent++
		return
	}
	s.q.after(retryBackoff, func() {
		if !n.alive {
			return
		}
		n.gen++
		gen := n.gen
		s.askParent(n, k, avoid, gone, func(p *placer, got rooms.Placement, err error) {
			if n.gen != gen || !n.alive {
				return
			}
			if err != nil {
				s.retry(n, k, avoid, gone)
				return
			}
			s.link(n, got.Parent, gen)
		})
	})
}

// link opens n's link to the parent it was assigned: a new connection
// (hole punched between two punchable nodes), the link's round trips, the
// first packet. A link that cannot connect (unreachable pair, failed hole
// punch, dead parent) fails after rtc's connect timeout, and n asks again
// avoiding that parent.
func (s *sim) link(n *node, parentID peer.ID, gen int) {
	p := s.byID[parentID]
	r := s.rtt(n, p)
	rounds := time.Duration(connRTTs + linkRTTs)
	if n.reach == rooms.ReachPunchable && p.reach == rooms.ReachPunchable {
		rounds += punchRTTs
	}
	if !p.alive || !s.m.linkWorks(p, n) {
		s.q.after(connectTimeout, func() {
			if n.gen == gen && n.alive {
				s.st.failedLinks++
				s.retry(n, kRetry, p, !p.alive)
			}
		})
		return
	}
	s.q.after(rounds*r+s.oneWay(p, n)+frameWait, func() {
		if n.gen == gen && n.alive && p.alive {
			s.linked(n)
		}
	})
}

// linked: n hears the room (again).
func (s *sim) linked(n *node) {
	n.attempts = 0
	if !n.joined {
		n.joined, n.hearing = true, true
		s.st.joins = append(s.st.joins, s.q.now-n.arrive)
		return
	}
	if !n.hearing {
		n.hearing = true
		s.recordGap(n)
	}
}

// depart is a node leaving: cleanly (its links close, it says goodbye to
// the host and its placer) or silently (nothing tells anyone).
func (s *sim) depart(n *node) {
	if !n.alive {
		return
	}
	n.alive, n.life = false, n.life+1
	n.gen++
	if !n.speaker {
		s.st.present--
	}
	clean := !n.silent
	for _, c := range s.children(n) {
		s.lose(c, n, clean)
	}
	if clean {
		s.admit(n, kLeaveRoom)
		if p := n.placer; p != nil {
			if p != s.hostPl {
				p.load.add(kLeave, s.costs, -1, 1, 0)
			}
			s.q.after(s.oneWay(n, p.owner), func() { p.tree.Remove(n.id) })
		}
	}
	if !clean && s.pol.ParentReports {
		s.reportLoss(n)
	}
	if n.own != nil {
		// The host notices a delegate gone by the link's heartbeats at the
		// latest: it stops referring joiners there.
		s.q.after(time.Second, func() { s.dropDelegate(n) })
	}
	if s.pol.Standby {
		holders := slices.SortedFunc(maps.Keys(s.holders[n]), func(a, b *node) int { return cmp.Compare(a.id, b.id) })
		for _, h := range holders {
			if h.alive && len(h.backups) > 0 && h.backups[0] == n {
				s.q.after(time.Second, func() { s.renew(h) }) // its standby link's heartbeats stopped
			}
		}
	}
	delete(s.holders, n)
	if n.alwaysOn {
		s.q.after(aliveAgain, func() { s.comeBack(n) })
	}
}

// comeBack is an always-on node restarting after a failure.
func (s *sim) comeBack(n *node) {
	n.placer, n.own, n.backups, n.joined, n.hearing = nil, nil, nil, false, false
	n.arrive = s.q.now
	n.leave = s.q.now + time.Duration(s.fail.ExpFloat64()*float64(s.m.AlwaysOnMTBF))
	s.arrive(n)
}

// reportLoss is the parent of a silently dead node telling the node's
// placer, once the link's heartbeats have stopped for a second, so that
// the tree does not keep a dead leaf (today nobody does: the host's tree
// keeps it until a joiner placed under it fails to link).
func (s *sim) reportLoss(n *node) {
	parent, p := s.parentOf(n), n.placer
	if parent == nil || p == nil {
		return
	}
	s.q.after(time.Second+s.oneWay(parent, p.owner), func() {
		if !n.alive && p.owner.alive {
			p.load.add(kLeave, s.costs, s.q.now, 1, 0)
			p.tree.Remove(n.id)
		}
	})
}

func (s *sim) dropDelegate(n *node) {
	for i, d := range s.delegates {
		if d == n {
			s.delegates = append(s.delegates[:i], s.delegates[i+1:]...)
			break
		}
	}
	s.hostPl.tree.Remove(n.id)
}

// children are n's children, as the trees that place them say.
func (s *sim) children(n *node) []*node {
	var out []*node
	add := func(p *placer) {
		for _, id := range p.tree.Children(n.id) {
			if c := s.byID[id]; c != nil && c.placer == p {
				out = append(out, c)
			}
		}
	}
	if n == s.host {
		add(s.hostPl)
		return out
	}
	if n.placer != nil {
		add(n.placer)
	}
	if n.own != nil {
		add(n.own)
	}
	return out
}

// parentOf is n's parent as its placer's tree has it, or nil.
func (s *sim) parentOf(n *node) *node {
	if n == s.host || n.placer == nil {
		return nil
	}
	pid, ok := n.placer.tree.Parent(n.id)
	if !ok {
		return nil
	}
	return s.byID[pid]
}

// rtt is the round trip between two nodes now, with this exchange's
// jitter; oneWay is half of it.
func (s *sim) rtt(a, b *node) time.Duration {
	return rtt(a, b) + time.Duration(s.jit.ExpFloat64()*float64(2*time.Millisecond))
}

func (s *sim) oneWay(a, b *node) time.Duration { return s.rtt(a, b) / 2 }
