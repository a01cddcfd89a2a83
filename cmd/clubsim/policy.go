package main

import "time"

// Detector is how a child decides its parent is gone when nothing closes.
type Detector struct {
	Name    string
	Speech  time.Duration // silence from the parent that means lost while speech flows
	Silence time.Duration // the same in pauses, when Opus DTX sends a packet every 400 ms
	Check   time.Duration // how often the child looks
}

var (
	// HeartbeatDetector is today's (audio/rtc): no heartbeat nor RTP for
	// 1 s, checked every 250 ms.
	HeartbeatDetector = Detector{Name: "heartbeat 1 s", Speech: time.Second, Silence: time.Second,
		Check: 250 * time.Millisecond}
	// StallDetector is the proposed one: while speech flows, 120 ms with
	// nothing from the parent (no RTP, no heartbeat) means lost; in pauses
	// 400 ms. A parent whose own upstream stalls tells its children at
	// once (a heartbeat saying so, every 50 ms while it lasts), so only the
	// children of the node that died fail over, not its whole subtree.
	StallDetector = Detector{Name: "RTP stall 120 ms", Speech: 120 * time.Millisecond,
		Silence: 400 * time.Millisecond, Check: 10 * time.Millisecond}
)

// Policy is one way of running the tree: which placement, detector and
// repair it uses.
type Policy struct {
	Name    string
	Learned bool // nodes report uplink, reach, always-on and nearness
	// Near is how a learning policy's nodes say who is near them: by
	// coordinates (nearCoord, the zero value), by measured round trips
	// (nearMeasured), or not (nearNone); see near.go.
	Near     string
	Detector Detector
	Backups  int  // backup parents with each assignment
	Standby  bool // the child keeps a standby link (connected, no audio) to each backup
	Delegate bool // the host delegates placement to always-on relays
	// ParentReports: the parent of a node that died silently tells the
	// node's placer (today nobody does, and the tree keeps it).
	ParentReports bool
	// ReferInJoin: the host names a joiner's delegate in its reply to the
	// room join, instead of answering a place request of its own.
	ReferInJoin bool
}

// The policies compared, from today's code to all of the proposal.
var policies = []Policy{
	{Name: "today", Detector: HeartbeatDetector},
	{Name: "learned", Learned: true, Detector: StallDetector, ParentReports: true},
	{Name: "backups", Learned: true, Detector: StallDetector, Backups: 2, ParentReports: true},
	{Name: "standby", Learned: true, Detector: StallDetector, Backups: 3, Standby: true, ParentReports: true},
	{Name: "delegated", Learned: true, Detector: StallDetector, Backups: 3, Standby: true, ParentReports: true,
		Delegate: true, ReferInJoin: true},
}

func policyNamed(name string) (Policy, bool) {
	for _, p := range policies {
		if p.Name == name {
			return p, true
		}
	}
	return Policy{}, false
}

// Link set-up, in round trips between the two ends (the child and its
// new parent), from what the code does: a new libp2p connection is the
// QUIC handshake and the membership hello; hole punching adds DCUtR's
// exchange through a relay; the link is the link hello, the WebRTC offer
// and answer, ICE's checks and the DTLS handshake (two). The first packet
// then takes a one-way trip and waits half a 20 ms frame on average.
const (
	connRTTs       = 2
	punchRTTs      = 3
	linkRTTs       = 5
	frameWait      = 10 * time.Millisecond
	connectTimeout = 5 * time.Second        // rtc's connectTimeout: a link that cannot connect
	retryBackoff   = 150 * time.Millisecond // roomnet's, after a refused place request
	heartbeatRate  = 4                      // per second each way: rtc's heartbeats when BENCHMARKS' figures were made (every second since: a quarter)
	hopDelay       = 100 * time.Microsecond // per relay: BenchmarkHopLatency's median
	aliveAgain     = 5 * time.Minute        // an always-on node that died is back after this
)
