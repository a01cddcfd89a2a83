package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/rooms"
)

// Model is the world the simulation runs in: who comes, for how long, on
// what network. Every distribution is stated here, and BENCHMARKS.md
// repeats them.
type Model struct {
	Listeners int           // mean audience (Poisson arrivals at Listeners / mean session)
	Duration  time.Duration // simulated time measured, after the warm start
	Seed      uint64
	// Flash, if set, starts from an empty room and brings Listeners in over
	// this window (Poisson), instead of a warm start at steady state.
	Flash time.Duration

	SessionMedian time.Duration // log-normal session length: median
	SessionSigma  float64       // and sigma of its logarithm
	SilentShare   float64       // departures that are silent (crash, cut, sleep)

	AlwaysOnShare    float64       // always-on nodes, as a share of Listeners, present from the start
	AlwaysOnMTBF     time.Duration // an always-on node dies silently this often, back 5 minutes later
	AlwaysOnCapacity int           // they declare this many children
	AlwaysOnUplink   float64       // median uplink in kbit/s (log-normal, sigma 0.5)

	Reach        [3]float64 // shares publicly reachable / punchable / relay-only
	PunchSuccess float64    // hole punching works for this share of punchable pairs

	UplinkMedian float64 // kbit/s, log-normal
	UplinkSigma  float64
	Declared     int // relay_capacity: children a node offers (config default 4)
	HostCapacity int
	Speakers     int // audible speakers: streams per child, and children of the host

	SpeechOn, SpeechOff time.Duration // talk spurts and pauses, exponential means
}

// DefaultModel is the model of BENCHMARKS.md.
func DefaultModel(listeners int) Model {
	return Model{
		Listeners: listeners, Duration: time.Hour, Seed: 1,
		SessionMedian: 12 * time.Minute, SessionSigma: 1.3, SilentShare: 0.2,
		AlwaysOnShare: 0.005, AlwaysOnMTBF: 24 * time.Hour, AlwaysOnCapacity: 32, AlwaysOnUplink: 100_000,
		Reach: [3]float64{0.2, 0.6, 0.2}, PunchSuccess: 0.7,
		UplinkMedian: 10_000, UplinkSigma: 1.1, Declared: 4, HostCapacity: 8, Speakers: 2,
		SpeechOn: 8 * time.Second, SpeechOff: 1500 * time.Millisecond,
	}
}

func (m Model) meanSession() time.Duration {
	return time.Duration(float64(m.SessionMedian) * math.Exp(m.SessionSigma*m.SessionSigma/2))
}

// Regions: where listeners are, on a plane whose distances are RTTs in
// milliseconds (North America, Europe, Asia), each spread 15 ms per axis.
var regions = []struct {
	share float64
	x, y  float64
}{{0.45, 0, 0}, {0.35, 80, 0}, {0.20, 150, 60}}

// node is one participant: what it is (drawn once, whatever the policy)
// and where it stands in the run.
type node struct {
	id       peer.ID
	x, y     float64 // true position (ms)
	access   float64 // access-link RTT share (ms), the coordinate's height
	coord    rooms.Coord
	uplink   int // kbit/s
	reach    rooms.Reach
	alwaysOn bool
	declared int
	arrive   time.Duration
	leave    time.Duration // end of session; always-on: next failure
	silent   bool

	speaker bool // on stage: under the host, not a listener
	warm    bool // placed by the warm start: its join is not measured

	alive      bool
	life       int     // bumps when it leaves, to drop its stale departure
	placer     *placer // who places it: the host or a delegate
	own        *placer // the placer it runs as a delegate, if it is one
	backups    []*node
	gen        int  // bumps whenever its link changes, to drop stale events
	joined     bool // heard the room once
	hearing    bool
	lastHeard  time.Duration // arrival of the last packet before a loss
	lostClean  bool          // that loss was a clean leave
	gapHour    int
	attempts   int
	accepted   int           // children that failed over to it and its placer has not recorded yet
	backupWait time.Duration // how long it last waited to ask again for a backup

	snap      int // pathOf's memo: snapshot number, depth, path RTT sum
	snapDepth int
	snapPath  time.Duration
	snapOK    bool
}

// population draws nodes in arrival order from its own random stream, so
// every policy sees the same people at the same times.
type population struct {
	m     Model
	rng   *rand.Rand
	count int
	next  time.Duration // the next steady arrival
}

func newPopulation(m Model) *population {
	return &population{m: m, rng: rand.New(rand.NewPCG(m.Seed, 0x9e3779b97f4a7c15))}
}

func (p *population) draw(alwaysOn bool, arrive time.Duration) *node {
	r := p.rng
	p.count++
	n := &node{id: peer.ID(fmt.Sprintf("%016x", r.Uint64())), arrive: arrive, alwaysOn: alwaysOn, gapHour: -1}
	reg := regions[len(regions)-1]
	for u, i := r.Float64(), 0; i < len(regions); i++ {
		if u -= regions[i].share; u < 0 {
			reg = regions[i]
			break
		}
	}
	n.x, n.y = reg.x+15*r.NormFloat64(), reg.y+15*r.NormFloat64()
	n.access = 4 * math.Exp(0.6*r.NormFloat64())
	// Coordinates as a node would estimate them: 5 ms off per axis.
	n.coord = rooms.Coord{X: n.x + 5*r.NormFloat64(), Y: n.y + 5*r.NormFloat64(), Height: n.access}
	if alwaysOn {
		n.uplink = int(p.m.AlwaysOnUplink * math.Exp(0.5*r.NormFloat64()))
		n.reach, n.declared = rooms.ReachPublic, p.m.AlwaysOnCapacity
		n.leave = arrive + time.Duration(r.ExpFloat64()*float64(p.m.AlwaysOnMTBF))
		n.silent = true
		return n
	}
	n.uplink = int(math.Min(math.Max(p.m.UplinkMedian*math.Exp(p.m.UplinkSigma*r.NormFloat64()), 200), 1e6))
	n.reach = rooms.ReachRelayOnly
	if u := r.Float64(); u < p.m.Reach[0] {
		n.reach = rooms.ReachPublic
	} else if u < p.m.Reach[0]+p.m.Reach[1] {
		n.reach = rooms.ReachPunchable
	}
	n.declared = p.m.Declared
	n.silent = r.Float64() < p.m.SilentShare
	n.leave = arrive + p.session(r)
	return n
}

func (p *population) session(r *rand.Rand) time.Duration {
	mu := math.Log(float64(p.m.SessionMedian))
	return time.Duration(math.Exp(mu + p.m.SessionSigma*r.NormFloat64()))
}

// residual is the remaining session of someone found in the room at a
// random moment: a length-biased session (log-normal with mu + sigma²),
// uniformly far through.
func (p *population) residual() time.Duration {
	mu := math.Log(float64(p.m.SessionMedian)) + p.m.SessionSigma*p.m.SessionSigma
	return time.Duration(p.rng.Float64() * math.Exp(mu+p.m.SessionSigma*p.rng.NormFloat64()))
}

// arrival draws the next arrival: Poisson at Listeners per mean session,
// or during a flash crowd's window at Listeners per window.
func (p *population) arrival() *node {
	rate := float64(p.m.Listeners) / float64(p.m.meanSession())
	if p.m.Flash > 0 && p.next < p.m.Flash {
		rate = float64(p.m.Listeners) / float64(p.m.Flash)
	}
	p.next += time.Duration(p.rng.ExpFloat64() / rate)
	return p.draw(false, p.next)
}

// The network: RTT between two nodes is the distance between their true
// positions plus both access delays, times a fixed per-pair factor in
// [0.9, 1.3] (routes are not straight; the triangle inequality fails),
// plus exponential jitter of mean 2 ms on each exchange.

func pairHash(a, b peer.ID) uint64 {
	if a > b {
		a, b = b, a
	}
	h := uint64(14695981039346656037)
	for _, s := range []string{string(a), string(b)} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * 1099511628211
		}
	}
	return h ^ h>>29
}

func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// rtt is the base round trip between a and b, without jitter.
func rtt(a, b *node) time.Duration {
	d := math.Hypot(a.x-b.x, a.y-b.y) + a.access + b.access
	f := 0.9 + 0.4*unit(pairHash(a.id, b.id))
	return time.Duration(d * f * float64(time.Millisecond))
}

// linkWorks says whether a link between parent and child connects: one
// end public, or both punchable and hole punching works for this pair.
func (m Model) linkWorks(parent, child *node) bool {
	pub := func(n *node) bool { return n.reach == rooms.ReachPublic || n.reach == rooms.ReachUnknown }
	switch {
	case pub(parent) || pub(child):
		return true
	case parent.reach == rooms.ReachPunchable && child.reach == rooms.ReachPunchable:
		return unit(pairHash(parent.id, child.id)*0x2545f4914f6cdd1d) < m.PunchSuccess
	}
	return false
}

// speech is the room's talk: alternating spurts and pauses, drawn once.
type speech struct{ changes []time.Duration } // on at 0, off at changes[0], on at changes[1], ...

func newSpeech(m Model, end time.Duration) *speech {
	r := rand.New(rand.NewPCG(m.Seed, 0x5eec4))
	s := &speech{}
	for t, on := time.Duration(0), true; t < end; on = !on {
		mean := m.SpeechOn
		if !on {
			mean = m.SpeechOff
		}
		t += time.Duration(r.ExpFloat64() * float64(mean))
		s.changes = append(s.changes, t)
	}
	return s
}

// on says whether someone speaks at t.
func (s *speech) on(t time.Duration) bool {
	i := searchDurations(s.changes, t)
	return i%2 == 0
}

// heard says whether a silence from a to b hides at least 60 ms of speech
// (less is concealed by the jitter buffer's 60 ms).
func (s *speech) heard(a, b time.Duration) bool {
	const least = 60 * time.Millisecond
	spoken := time.Duration(0)
	for t, i := a, searchDurations(s.changes, a); t < b && i <= len(s.changes); i++ {
		end := b
		if i < len(s.changes) {
			end = min(b, s.changes[i])
		}
		if i%2 == 0 {
			spoken += end - t
		}
		t = end
	}
	return spoken >= least
}

// searchDurations is the number of entries of sorted ds at or before t.
func searchDurations(ds []time.Duration, t time.Duration) int {
	lo, hi := 0, len(ds)
	for lo < hi {
		mid := (lo + hi) / 2
		if ds[mid] <= t {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
