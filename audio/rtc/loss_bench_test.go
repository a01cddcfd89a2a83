package rtc

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
)

// playoutDeadline is how late a packet may reach the listener and still
// play: the Receiver's default delay (package audio).
const playoutDeadline = 60 * time.Millisecond

// BenchmarkResidualLoss sends one speaker's 20 ms packets down a chain of
// real WebRTC links on loopback (root, three relays, a leaf at depth 4)
// with 2% of every hop's outgoing RTP dropped, retransmissions included,
// and NACK repairing each hop. One op is one packet. It reports what the
// leaf lacks: packets that never came (%lost), those that came after the
// playout deadline too (%lost-by-playout), and those Opus in-band FEC
// cannot stand in for either because the next packet is missing by
// playout as well (%lost-after-FEC); and %wire-loss, what was dropped of
// everything sent on all hops.
func BenchmarkResidualLoss(b *testing.B) {
	const (
		hops = 4
		rate = 0.02
	)
	forwarders, wire := lossyChain(b, hops, rate)
	got := newCollector()
	defer forwarders[hops].AddSink(got.sink)()
	src := &source{speaker: "alice", ssrc: 5}
	warmUp(b, got, forwarders[0].Write, src)
	droppedBefore, passedBefore := wire()

	sentAt := make([]time.Time, b.N)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		sentAt[i] = time.Now()
		forwarders[0].Write("alice", src.next(fmt.Sprintf("n-%06d", i)))
		<-tick.C
	}
	b.StopTimer()
	burst(25, 20*time.Millisecond, "tail", forwarders[0].Write, src) // reveals the last gaps
	deadline := time.Now().Add(2 * time.Second)
	arrived := map[int]time.Time{}
	for {
		payloads, at := got.payloads("alice"), got.arrivals("alice")
		for j, p := range payloads {
			if n, ok := strings.CutPrefix(p, "n-"); ok {
				i, _ := strconv.Atoi(n)
				if _, seen := arrived[i]; !seen {
					arrived[i] = at[j]
				}
			}
		}
		if len(arrived) == b.N || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	dropped, passed := wire()
	dropped, passed = dropped-droppedBefore, passed-passedBefore

	missing, late, unrecovered := 0, 0, 0
	onTime := func(i int) bool {
		at, ok := arrived[i]
		return ok && at.Sub(sentAt[i]) <= playoutDeadline
	}
	for i := range b.N {
		if _, ok := arrived[i]; !ok {
			missing++
		}
		if !onTime(i) {
			late++
			if i+1 >= b.N || !onTime(i+1) {
				unrecovered++
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(100*float64(missing)/n, "%lost")
	b.ReportMetric(100*float64(late)/n, "%lost-by-playout")
	b.ReportMetric(100*float64(unrecovered)/n, "%lost-after-FEC")
	b.ReportMetric(100*float64(dropped)/float64(dropped+passed), "%wire-loss")
}

// lossyChain links hops+1 forwarders in a line, each hop dropping rate of
// its outgoing RTP; wire reports what all hops dropped and passed so far.
func lossyChain(b *testing.B, hops int, rate float64) (forwarders []*Forwarder, wire func() (dropped, passed uint64)) {
	forwarders = make([]*Forwarder, hops+1)
	for i := range forwarders {
		forwarders[i] = newTestForwarder(b, "alice")
	}
	listener := newTestAPI(b, Config{})
	var losses []*lossFactory
	for i := range hops {
		loss := DropRandomly(rate, int64(i+1)).(*lossFactory)
		losses = append(losses, loss)
		lossy := newTestAPI(b, Config{Interceptors: func(r *interceptor.Registry) error {
			r.Add(loss)
			return nil
		}})
		connect(b, lossy, forwarders[i], listener, forwarders[i+1], ChildOptions{}, ParentOptions{})
	}
	return forwarders, func() (dropped, passed uint64) {
		for _, l := range losses {
			dropped += l.dropped.Load()
			passed += l.passed.Load()
		}
		return dropped, passed
	}
}
