package lateness

import (
	"runtime/metrics"
	"sync"
	"time"
)

// A watcher's own timer is one goroutine: it can wake on time while the
// goroutines that carry what it waits for (a stream's reader, a
// connection's send loop, the peer's heartbeat ticker when the peer runs
// in this process) sit runnable behind others for hundreds of
// milliseconds. The Go runtime measures that wait for every goroutine
// (runtime/metrics "/sched/latencies:seconds"); Scheduler reads it.

// schedMetric is the runtime's histogram of how long goroutines waited
// runnable before they ran.
const schedMetric = "/sched/latencies:seconds"

// schedEvery is how often Scheduler reads the histogram: reading costs a
// few microseconds, and every link's checks ask.
const schedEvery = 100 * time.Millisecond

var sched struct {
	mu     sync.Mutex
	sample []metrics.Sample
	prev   []uint64
	read   time.Time
	worst  time.Duration // decaying, as Meter's
}

// Scheduler is this process's recent scheduling delay: the 99th
// percentile of how long goroutines waited to run, over each tenth of a
// second, the worst of those forgotten an eighth per reading (as Meter
// forgets). A process starved of CPU shows it here before any one
// goroutine's timer does. It is safe for concurrent use.
func Scheduler() time.Duration {
	return schedulerAt(time.Now())
}

func schedulerAt(now time.Time) time.Duration {
	sched.mu.Lock()
	defer sched.mu.Unlock()
	if now.Sub(sched.read) < schedEvery {
		return sched.worst
	}
	sched.read = now
	if sched.sample == nil {
		sched.sample = []metrics.Sample{{Name: schedMetric}}
	}
	metrics.Read(sched.sample)
	if sched.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0 // a runtime without the metric: nothing known
	}
	h := sched.sample[0].Value.Float64Histogram()
	p99 := percentileSince(sched.prev, h.Counts, h.Buckets, 99)
	sched.prev = append(sched.prev[:0], h.Counts...)
	sched.worst = max(p99, sched.worst*7/8)
	return sched.worst
}

// percentileSince is the pct-th percentile of the samples counted in
// counts but not yet in prev (cumulative histograms of the same shape;
// a nil prev counts everything), as the lower bound of its bucket.
// buckets has len(counts)+1 boundaries.
func percentileSince(prev, counts []uint64, buckets []float64, pct uint64) time.Duration {
	var total uint64
	for i, c := range counts {
		total += c - at(prev, i)
	}
	if total == 0 {
		return 0
	}
	var seen uint64
	for i, c := range counts {
		seen += c - at(prev, i)
		if seen*100 >= total*pct {
			return time.Duration(max(buckets[i], 0) * float64(time.Second))
		}
	}
	return 0
}

func at(s []uint64, i int) uint64 {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// hops is how many goroutine hand-offs a frame takes from the peer's
// ticker to the reader that records it: the sender's ticker and
// connection loop, the receiver's connection loop and stream reader.
// Each may wait the scheduling delay.
const hops = 4

// Slack is how much longer than its timeout a watcher waits before it
// takes a quiet peer for lost: twice its own recent lateness own (it
// reads late what came in time), plus the process's scheduling delay
// once per hand-off a frame takes, that part at most limit, so a peer
// that is really gone is still let go on a starved machine.
func Slack(own, limit time.Duration) time.Duration {
	return 2*own + min(hops*Scheduler(), max(limit, 0))
}
