package main

import (
	"slices"
	"time"

	"github.com/clubnode/clubnode/rooms"
)

// stats is what a run measures as it goes.
type stats struct {
	present        int // listeners in the room now
	joins          []time.Duration
	gaps           map[string][]time.Duration // by cause: "silent", "clean"
	gapListeners   map[int]int                // hour → listeners who heard a gap in it
	depth          map[int]int
	stretch        []float64
	latency        []time.Duration // one way, host to listener, along the tree
	sampled        int
	overloaded     int // sampled listeners whose parent's uplink cannot carry its children
	failedLinks    int
	noParent       int
	backupUsed     int
	backupFallback int
	unusable       map[string]int // backups that could not take a child, by reason
}

func newStats() *stats {
	return &stats{gaps: map[string][]time.Duration{}, gapListeners: map[int]int{}, depth: map[int]int{},
		unusable: map[string]int{}}
}

// snapshot samples the tree every snapshotEvery: each listener's depth,
// stretch and path latency, relays over their uplink, and the heartbeats
// the host and delegates receive from their direct children until the
// next one.
func (s *sim) snapshot() {
	s.stamp++
	beats := func(p *placer) {
		kids := len(s.children(p.owner))
		p.load.add(kHeartbeat, s.costs, -1, kids*heartbeatRate*int(snapshotEvery/time.Second), 0)
	}
	beats(s.hostPl)
	for _, d := range s.delegates {
		beats(d.own)
	}
	kids := map[*node]int{}
	for _, n := range s.nodes {
		if !n.alive || n.speaker || !n.joined {
			continue
		}
		depth, path, ok := s.pathOf(n)
		if !ok {
			continue
		}
		kids[s.parentOf(n)]++
		s.st.depth[depth]++
		s.st.sampled++
		s.st.stretch = append(s.st.stretch, float64(path)/float64(max(rtt(s.host, n), time.Microsecond)))
		s.st.latency = append(s.st.latency, path/2+time.Duration(depth)*hopDelay)
	}
	for p, k := range kids {
		if p != s.host && k*s.m.Speakers*rooms.StreamKbps > p.uplink {
			s.st.overloaded += k
		}
	}
}

// pathOf is n's depth and the sum of the RTTs of the links from the host
// down to it, if it hears the room through the tree.
func (s *sim) pathOf(n *node) (int, time.Duration, bool) {
	if n == s.host {
		return 0, 0, true
	}
	if n.snap == s.stamp {
		return n.snapDepth, n.snapPath, n.snapOK
	}
	n.snap, n.snapOK = s.stamp, false
	p := s.parentOf(n)
	if p == nil || !n.alive || !n.hearing {
		return 0, 0, false
	}
	d, path, ok := s.pathOf(p)
	if !ok {
		return 0, 0, false
	}
	n.snapDepth, n.snapPath, n.snapOK = d+1, path+rtt(p, n), true
	return n.snapDepth, n.snapPath, true
}

// result is a finished run.
type result struct {
	model       Model
	pol         Policy
	st          *stats
	host        *load
	delegates   []*load
	gapShare    float64 // listeners hearing a gap, per hour, as a share of those present
	listeners   int     // everyone who was in the room
	maxDelegate *load
}

func (s *sim) result() *result {
	r := &result{model: s.m, pol: s.pol, st: s.st, host: s.hostPl.load}
	present := map[int]int{}
	for _, n := range s.nodes {
		if n.speaker {
			continue
		}
		r.listeners++
		for h := int(n.arrive / time.Hour); time.Duration(h)*time.Hour < min(n.leave, s.m.Duration); h++ {
			present[h]++
		}
	}
	hours := 0
	for h, k := range present {
		if time.Duration(h+1)*time.Hour <= s.m.Duration && k > 0 {
			r.gapShare += float64(s.st.gapListeners[h]) / float64(k)
			hours++
		}
	}
	if hours > 0 {
		r.gapShare /= float64(hours)
	}
	for _, n := range s.nodes {
		if n.own != nil {
			r.delegates = append(r.delegates, n.own.load)
			if r.maxDelegate == nil || n.own.load.total() > r.maxDelegate.total() {
				r.maxDelegate = n.own.load
			}
		}
	}
	return r
}

func (l *load) total() int64 {
	var t int64
	for k := range kinds {
		t += l.in[k] + l.out[k]
	}
	return t
}

// quantile is the q-quantile of xs (sorted in place).
func quantile[T int64 | time.Duration | float64](xs []T, q float64) T {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[min(int(q*float64(len(xs))), len(xs)-1)]
}
