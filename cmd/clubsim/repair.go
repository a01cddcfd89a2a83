package main

import (
	"time"

	"github.com/clubnode/clubnode/rooms"
)

// lose is child c losing its parent dead: the last packet reaches it a
// one-way trip after the death; it notices when the link closes (a clean
// leave) or by its detector (silent: the speech timeout while someone
// talks, the pause timeout otherwise, checked every Check).
func (s *sim) lose(c, dead *node, clean bool) {
	if !c.alive {
		return
	}
	c.gen++
	gen := c.gen
	last := s.q.now + s.oneWay(dead, c)
	if c.hearing {
		c.hearing, c.lastHeard, c.lostClean = false, last, clean
	}
	detect := time.Duration(0)
	if !clean {
		d := s.pol.Detector
		detect = d.Silence
		if s.speech.on(s.q.now) {
			detect = d.Speech
		}
		detect += time.Duration(s.jit.Int64N(int64(d.Check)))
	}
	s.q.at(last+detect, func() {
		if c.gen == gen && c.alive {
			s.repair(c, dead, gen)
		}
	})
}

// repair is c getting a parent again: its backups first, in order, then
// its placer. With standby links the child knows each backup's state
// ahead (gone, full, no audio, unreachable: the standby link says so) and
// skips the unusable ones at no cost. Without, a gone backup is skipped
// too (the child keeps a connection to each), but one that refuses (no
// room, a loop, no audio itself) costs a round trip, and one whose link
// cannot connect costs the connect timeout.
func (s *sim) repair(c, dead *node, gen int) {
	wasted := time.Duration(0)
	standby := s.pol.Standby
	for _, b := range c.backups {
		if why := s.unusable(b, c, dead); why != "" {
			s.st.unusable[why]++
			switch {
			case why == "gone" || standby:
			case why == "no link":
				wasted += connectTimeout
			default:
				wasted += s.rtt(c, b) // it refuses
			}
			continue
		}
		cost := time.Duration(linkRTTs) * s.rtt(c, b)
		if standby {
			cost = s.rtt(c, b) // the standby link exists: one message to start the audio
		}
		cost += frameWait
		b.accepted++ // b counts c from now on, before its placer hears of it
		s.q.after(wasted+cost, func() {
			if c.gen == gen && c.alive {
				s.failedOver(c, b, dead, gen)
			} else {
				b.accepted--
			}
		})
		return
	}
	if len(c.backups) > 0 {
		s.st.backupFallback++
	}
	s.q.after(wasted, func() {
		if c.gen != gen || !c.alive {
			return
		}
		s.askParent(c, kRepair, dead, true, func(p *placer, got rooms.Placement, err error) {
			if c.gen != gen || !c.alive {
				return
			}
			if err != nil {
				s.retry(c, kRepair, dead, true)
				return
			}
			s.link(c, got.Parent, gen)
		})
	})
}

// unusable says why backup b cannot take c now, or "".
func (s *sim) unusable(b, c, dead *node) string {
	switch {
	case b == dead || !b.alive:
		return "gone"
	case !s.m.linkWorks(b, c):
		return "no link"
	case !s.audible(b):
		return "no audio"
	case s.below(b, c):
		return "loop"
	case !s.hasRoom(b):
		return "full"
	}
	return ""
}

// failedOver: c hears again through backup b, and tells its placer where
// it is, which records it there and hands fresh backups.
func (s *sim) failedOver(c, b, dead *node, gen int) {
	if !b.alive || !s.audible(b) {
		b.accepted--
		s.repair(c, dead, gen) // b went meanwhile: next backup, or the placer
		return
	}
	s.st.backupUsed++
	s.linked(c)
	p := s.placerFor(c)
	req := s.request(c)
	req.Capacity, req.Under, req.Avoid, req.AvoidGone = s.reqCapacity(c), b.id, dead.id, true
	req.Children = s.childIDs(c)
	s.ask(c, p, kFailover, req, func(got rooms.Placement, err error) {
		b.accepted-- // recorded in the tree, or not there at all
		if err == nil && got.Parent != b.id && c.gen == gen && c.alive {
			// The placer put it elsewhere: move, linking before leaving.
			c.gen++
			s.link(c, got.Parent, c.gen)
		}
	})
}

// audible says whether n hears the room: it and every node above it are
// alive and linked.
func (s *sim) audible(n *node) bool {
	for x := n; x != s.host; x = s.parentOf(x) {
		if x == nil || !x.alive || !x.hearing {
			return false
		}
	}
	return true
}

// below says whether b hangs in c's subtree.
func (s *sim) below(b, c *node) bool {
	for x := b; x != nil; x = s.parentOf(x) {
		if x == c {
			return true
		}
	}
	return false
}

// hasRoom says whether backup n can take one more child failing over to
// it: up to rooms.FailoverCapacity.
func (s *sim) hasRoom(n *node) bool {
	return len(s.children(n))+n.accepted < rooms.FailoverCapacity(s.capacity(n), n.alwaysOn)
}

// recordGap: c hears again after a silence since c.lastHeard; so does its
// whole subtree, which was silent with it. Each listener's gap counts,
// and a listener heard a gap this hour if speech fell in it.
func (s *sim) recordGap(c *node) {
	gap := s.q.now - c.lastHeard
	heard := s.speech.heard(c.lastHeard, s.q.now)
	cause := "silent"
	if c.lostClean {
		cause = "clean"
	}
	if !c.lostClean && s.speech.on(c.lastHeard) {
		cause = "silent, speaking"
	}
	hour := int(s.q.now / time.Hour)
	var visit func(x *node)
	visit = func(x *node) {
		if x.joined && !x.speaker {
			s.st.gaps[cause] = append(s.st.gaps[cause], gap)
			if heard && x.gapHour != hour {
				x.gapHour = hour
				s.st.gapListeners[hour]++
			}
		}
		for _, k := range s.children(x) {
			if k.alive {
				visit(k)
			}
		}
	}
	visit(c)
}
