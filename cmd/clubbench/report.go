package main

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"
)

// quantile is the q-quantile (0..1) of xs, by nearest rank.
func quantile[T cmp.Ordered](xs []T, q float64) T {
	var zero T
	if len(xs) == 0 {
		return zero
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func sum(xs []float64) float64 {
	var t float64
	for _, x := range xs {
		t += x
	}
	return t
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func pct(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) }

// print writes the run's figures.
func (r *result) print(w io.Writer, o options) {
	fmt.Fprintf(w, "clubbench: %d daemons (host + %d members), relay capacity %d, flash %v\n", o.n, o.n-1, o.capacity, o.flash)
	for _, l := range r.load {
		fmt.Fprintf(w, "  load average at %s\n", l)
	}
	cpu := func(name string, xs []float64) {
		if len(xs) > 0 {
			fmt.Fprintf(w, "CPU %-12s per member: median %s, p90 %s, max %s of one core; all members %s\n", name,
				pct(quantile(xs, 0.5)), pct(quantile(xs, 0.9)), pct(quantile(xs, 1)), pct(sum(xs)))
		}
	}
	cpu("idle", r.idleCPU)
	cpu("silent room", r.silentCPU)
	cpu("speaking", r.speakCPU)
	if len(r.rss) > 0 {
		fmt.Fprintf(w, "RSS per daemon: median %.1f MB, max %.1f MB; private (not shared with the other daemons) median %.1f MB, max %.1f MB\n",
			float64(quantile(r.rss, 0.5))/(1<<20), float64(quantile(r.rss, 1))/(1<<20),
			float64(quantile(r.private, 0.5))/(1<<20), float64(quantile(r.private, 1))/(1<<20))
	}
	durations := func(name string, xs []time.Duration) {
		if len(xs) > 0 {
			fmt.Fprintf(w, "%-28s n=%d p50 %s, p95 %s, p99 %s, max %s\n", name, len(xs), ms(quantile(xs, 0.5)),
				ms(quantile(xs, 0.95)), ms(quantile(xs, 0.99)), ms(quantile(xs, 1)))
		}
	}
	durations("hallway lists the new room:", r.hallway)
	if r.unlisted > 0 {
		fmt.Fprintf(w, "%d members' hallways did not list the room within a minute\n", r.unlisted)
	}
	durations("join request → admitted:", r.admitted)
	durations("join request → placed:", r.joins)
	if r.unplaced > 0 {
		fmt.Fprintf(w, "%d members were not placed within a minute\n", r.unplaced)
	}
	durations("join request → hearing:", r.hearing)
	if r.joinAll > 0 {
		fmt.Fprintf(w, "all %d joins took %s\n", len(r.joins), ms(r.joinAll))
		c := r.joinCPU
		fmt.Fprintf(w, "CPU while joining: daemons %.1f s (host %.1f s), clubbench itself %.1f s, of %.1f s on %d cores\n",
			c.daemons.Seconds(), c.host.Seconds(), c.bench.Seconds(), r.joinAll.Seconds()*float64(runtime.NumCPU()), runtime.NumCPU())
	}
	depths := map[int]int{}
	deepest := 0
	for _, d := range r.depth {
		depths[d]++
		deepest = max(deepest, d)
	}
	fmt.Fprintf(w, "tree depth %d; members per depth:", deepest)
	for d := 1; d <= deepest; d++ {
		fmt.Fprintf(w, " %d:%d", d, depths[d])
	}
	fmt.Fprintln(w)
	if len(r.received) > 0 {
		full := 0
		for _, n := range r.received {
			if n*10 >= r.expected*9 {
				full++
			}
		}
		fmt.Fprintf(w, "packets of the %d-packet speech per member: min %d, median %d; %d of %d members got ≥ 90%%\n",
			r.expected, quantile(r.received, 0), quantile(r.received, 0.5), full, len(r.received))
	}
	for i, c := range r.corr {
		fmt.Fprintf(w, "recording at depth %d matches the source %.3f\n", r.corrDepth[i], c)
	}
	durations("repair gap (relay frozen):", r.gaps)
	durations("  the same, no stall watch:", r.gapsOff)
}
