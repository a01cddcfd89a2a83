package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// rate is a load as per-second figures over the measured time.
type rate struct {
	msgs, kbps, cpuPct float64
}

// rates sums a load's kinds by category, over d.
func (l *load) rates(d time.Duration) map[string]rate {
	out := map[string]rate{}
	secs := d.Seconds()
	for k := range kinds {
		c := k.category()
		r := out[c]
		r.msgs += float64(l.count[k]) / secs
		r.kbps += float64(l.in[k]+l.out[k]) * 8 / 1000 / secs
		r.cpuPct += 100 * l.cpu[k].Seconds() / secs
		out[c] = r
	}
	return out
}

// tree is the host's load of the relay tree: placement and links, the
// part this design owns (admission and state are today's room protocol).
func (l *load) tree(d time.Duration) rate {
	rs := l.rates(d)
	p, k := rs["placement"], rs["links"]
	return rate{p.msgs + k.msgs, p.kbps + k.kbps, p.cpuPct + k.cpuPct}
}

// peakKbps is the busiest second's placement bytes plus the steady links
// (heartbeats are counted per snapshot, not per second).
func (l *load) peakKbps(d time.Duration) float64 {
	var most int64
	for _, b := range l.bytesBySecond {
		most = max(most, b)
	}
	return float64(most)*8/1000 + l.rates(d)["links"].kbps
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }

func pcts(xs []time.Duration) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", ms(quantile(xs, 0.5)), ms(quantile(xs, 0.95)), ms(quantile(xs, 0.99)))
}

// depthShares is the depth distribution as "depth: share" pairs.
func (r *result) depthShares() string {
	var parts []string
	for _, d := range slices.Sorted(maps.Keys(r.st.depth)) {
		parts = append(parts, fmt.Sprintf("%d: %.1f%%", d, 100*float64(r.st.depth[d])/float64(max(r.st.sampled, 1))))
	}
	return strings.Join(parts, ", ")
}

// write prints one run in full.
func (r *result) write(w io.Writer, wall time.Duration) {
	m, st, d := r.model, r.st, r.model.Duration
	kind := "steady state (warm start)"
	if m.Flash > 0 {
		kind = fmt.Sprintf("flash crowd over %s", m.Flash)
	}
	fmt.Fprintf(w, "\n### %d listeners, policy %q: %s, %s simulated, seed %d (%s wall)\n\n", m.Listeners, r.pol.Name, kind,
		d, m.Seed, wall.Round(time.Millisecond))
	fmt.Fprintf(w, "- listeners in the run: %d; detector: %s; backups: %d (standby %v); delegated: %v\n", r.listeners,
		r.pol.Detector.Name, r.pol.Backups, r.pol.Standby, r.pol.Delegate)
	fmt.Fprintf(w, "- depth: %s\n", r.depthShares())
	fmt.Fprintf(w, "- stretch (tree path RTT / direct RTT) p50/p95/p99: %.2f / %.2f / %.2f\n",
		quantile(st.stretch, 0.5), quantile(st.stretch, 0.95), quantile(st.stretch, 0.99))
	fmt.Fprintf(w, "- host to listener one way along the tree, ms p50/p95/p99: %s\n", pcts(st.latency))
	fmt.Fprintf(w, "- join time (ask for a parent → first packet), ms p50/p95/p99: %s (%d joins)\n", pcts(st.joins),
		len(st.joins))
	fmt.Fprintf(w, "- repair gap, parent died silently while someone spoke, ms p50/p95/p99: %s (%d listener gaps)\n",
		pcts(st.gaps["silent, speaking"]), len(st.gaps["silent, speaking"]))
	fmt.Fprintf(w, "- repair gap, parent died silently in a pause, ms p50/p95/p99: %s (%d)\n", pcts(st.gaps["silent"]),
		len(st.gaps["silent"]))
	fmt.Fprintf(w, "- repair gap, parent left cleanly, ms p50/p95/p99: %s (%d)\n", pcts(st.gaps["clean"]), len(st.gaps["clean"]))
	fmt.Fprintf(w, "- listeners who heard a gap, per hour: %.1f%%; failovers to a backup: %d, to the placer after trying backups: %d; backups skipped: %v\n",
		100*r.gapShare, st.backupUsed, st.backupFallback, st.unusable)
	fmt.Fprintf(w, "- listeners under a relay whose uplink cannot carry its children: %.2f%%; links that failed to connect: %d; gave up: %d\n",
		100*float64(st.overloaded)/float64(max(st.sampled, 1)), st.failedLinks, st.noParent)
	r.writeLoad(w, "host", r.host)
	if r.maxDelegate != nil {
		r.writeLoad(w, fmt.Sprintf("busiest of %d delegates", len(r.delegates)), r.maxDelegate)
	}
}

func (r *result) writeLoad(w io.Writer, who string, l *load) {
	d := r.model.Duration
	fmt.Fprintf(w, "- %s control load:\n\n  | category | msgs/s | kbit/s | CPU %% of a core |\n  | --- | --- | --- | --- |\n", who)
	rs := l.rates(d)
	for _, c := range []string{"placement", "links", "admission+state"} {
		x := rs[c]
		fmt.Fprintf(w, "  | %s | %.1f | %.1f | %.2f |\n", c, x.msgs, x.kbps, x.cpuPct)
	}
	t := l.tree(d)
	fmt.Fprintf(w, "  | **tree (placement + links)** | **%.1f** | **%.1f** (peak second %.0f) | **%.2f** |\n\n", t.msgs, t.kbps,
		l.peakKbps(d), t.cpuPct)
	var parts []string
	for k := range kinds {
		if l.count[k] > 0 && k.category() != "admission+state" {
			parts = append(parts, fmt.Sprintf("%s %.2f/s", kindNames[k], float64(l.count[k])/d.Seconds()))
		}
	}
	fmt.Fprintf(w, "  by kind: %s\n", strings.Join(parts, ", "))
}

// compare prints one row per run: the figures BENCHMARKS.md tabulates.
func compare(w io.Writer, rs []*result) {
	fmt.Fprintln(w, "\n| listeners | policy | depth p50/max | stretch p50/p95 | join ms p50/p95/p99 | silent-death gap (speaking) ms p50/p95/p99 | clean-leave gap ms p50/p95/p99 | heard a gap /h | host tree kbit/s | host tree CPU % | host msgs/s |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rs {
		t := r.host.tree(r.model.Duration)
		fmt.Fprintf(w, "| %d | %s | %d/%d | %.2f/%.2f | %s | %s | %s | %.1f%% | %.1f | %.2f | %.1f |\n",
			r.model.Listeners, r.pol.Name, r.depthQuantile(0.5), r.depthQuantile(1), quantile(r.st.stretch, 0.5),
			quantile(r.st.stretch, 0.95), pcts(r.st.joins), pcts(r.st.gaps["silent, speaking"]), pcts(r.st.gaps["clean"]),
			100*r.gapShare, t.kbps, t.cpuPct, t.msgs)
	}
}

func (r *result) depthQuantile(q float64) int {
	keys := slices.Sorted(maps.Keys(r.st.depth))
	seen := 0
	for _, d := range keys {
		seen += r.st.depth[d]
		if float64(seen) >= q*float64(r.st.sampled) {
			return d
		}
	}
	if len(keys) == 0 {
		return 0
	}
	return keys[len(keys)-1]
}
