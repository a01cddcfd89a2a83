package main

import (
	"fmt"
	"image/color"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// The figures of BENCHMARKS.md: which runs, and what each plot shows.
var (
	gapPolicies  = []string{"today", "learned", "backups", "standby", "delegated"}
	loadSizes    = []int{1000, 3000, 10_000, 30_000, 100_000}
	loadPolicies = []string{"standby", "delegated"}
)

// plotAll runs the figures' scenarios, writes depth.png, gaps.png and
// load.png to dir, and prints every run.
func plotAll(dir string, cpu cpuCosts, seed uint64, parallel int, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	type key struct {
		n      int
		policy string
	}
	var jobs []job
	index := map[key]int{}
	add := func(n int, name string) {
		if _, ok := index[key{n, name}]; ok {
			return
		}
		pol, _ := policyNamed(name)
		m := DefaultModel(n)
		m.Seed = seed
		index[key{n, name}] = len(jobs)
		jobs = append(jobs, job{m, pol})
	}
	for _, name := range gapPolicies {
		add(10_000, name)
	}
	for _, n := range loadSizes {
		for _, name := range loadPolicies {
			add(n, name)
		}
	}
	rs, walls, err := runAll(jobs, cpu, parallel)
	if err != nil {
		return err
	}
	get := func(n int, name string) *result { return rs[index[key{n, name}]] }
	compare(out, rs)
	for i, r := range rs {
		r.write(out, walls[i])
	}
	depth := []*result{get(10_000, "today"), get(10_000, "delegated"), get(100_000, "delegated")}
	if err := plotDepth(filepath.Join(dir, "depth.png"), depth); err != nil {
		return err
	}
	var gaps []*result
	for _, name := range gapPolicies {
		gaps = append(gaps, get(10_000, name))
	}
	if err := plotGaps(filepath.Join(dir, "gaps.png"), gaps); err != nil {
		return err
	}
	byPolicy := map[string][]*result{}
	for _, name := range loadPolicies {
		for _, n := range loadSizes {
			byPolicy[name] = append(byPolicy[name], get(n, name))
		}
	}
	return plotLoad(filepath.Join(dir, "load.png"), byPolicy)
}

func label(r *result) string { return fmt.Sprintf("%s, %dk", r.pol.Name, r.model.Listeners/1000) }

func save(p *plot.Plot, file string) error {
	if err := p.Save(5*vg.Inch, 3.2*vg.Inch, file); err != nil {
		return fmt.Errorf("plot %s: %w", file, err)
	}
	return nil
}

// plotDepth draws the share of listeners at each depth, one bar per run.
func plotDepth(file string, rs []*result) error {
	p := plot.New()
	p.Title.Text = "Depth of listeners in the tree"
	p.X.Label.Text = "depth (hops from the host)"
	p.Y.Label.Text = "share of listeners"
	deepest := 1
	for _, r := range rs {
		deepest = max(deepest, slices.Max(slices.Collect(maps.Keys(r.st.depth))))
	}
	deepest = min(deepest, 12)
	w := vg.Points(8)
	for i, r := range rs {
		vals := make(plotter.Values, deepest)
		for d := 1; d <= deepest; d++ {
			vals[d-1] = float64(r.st.depth[d]) / float64(max(r.st.sampled, 1))
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return fmt.Errorf("plot depth: %w", err)
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = w * vg.Length(i-len(rs)/2)
		p.Add(bars)
		p.Legend.Add(label(r), bars)
	}
	names := make([]string, deepest)
	for d := range names {
		names[d] = fmt.Sprint(d + 1)
	}
	p.NominalX(names...)
	p.Legend.Top = true
	return save(p, file)
}

// plotGaps draws the CDF of the repair gap after a silent death while
// someone speaks, one line per policy, on a log scale of milliseconds.
func plotGaps(file string, rs []*result) error {
	p := plot.New()
	p.Title.Text = "Repair gap after a relay dies silently (10,000 listeners)"
	p.X.Label.Text = "gap heard by each listener below it (ms, log scale)"
	p.Y.Label.Text = "share of listener gaps ≤ x"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Min, p.X.Max = 30, 100_000
	p.Y.Min, p.Y.Max = 0, 1
	for i, r := range rs {
		gaps := slices.Clone(r.st.gaps["silent, speaking"])
		slices.Sort(gaps)
		pts := make(plotter.XYs, 0, 200)
		for j := 0; j < len(gaps); j += max(len(gaps)/200, 1) {
			pts = append(pts, plotter.XY{X: max(float64(gaps[j])/float64(time.Millisecond), 30), Y: float64(j+1) / float64(len(gaps))})
		}
		if len(gaps) > 0 {
			pts = append(pts, plotter.XY{X: float64(gaps[len(gaps)-1]) / float64(time.Millisecond), Y: 1})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("plot gaps: %w", err)
		}
		line.Color, line.Width = plotutil.Color(i), vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(r.pol.Name, line)
	}
	target, err := plotter.NewLine(plotter.XYs{{X: 300, Y: 0}, {X: 300, Y: 1}})
	if err != nil {
		return fmt.Errorf("plot gaps: %w", err)
	}
	target.Color, target.Dashes = color.Gray{Y: 120}, []vg.Length{vg.Points(3), vg.Points(3)}
	p.Add(target)
	p.Legend.Add("300 ms", target)
	p.Legend.Left, p.Legend.Top = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(4), vg.Points(4)
	return save(p, file)
}

// plotLoad draws the host's tree control load (placement and links) by
// audience size, one line per policy, with the 100 kbit/s budget.
func plotLoad(file string, byPolicy map[string][]*result) error {
	p := plot.New()
	p.Title.Text = "Host's control load of the relay tree"
	p.X.Label.Text = "listeners (log scale)"
	p.Y.Label.Text = "kbit/s, both ways (log scale)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	for i, name := range slices.Sorted(maps.Keys(byPolicy)) {
		var pts plotter.XYs
		for _, r := range byPolicy[name] {
			pts = append(pts, plotter.XY{X: float64(r.model.Listeners), Y: r.host.tree(r.model.Duration).kbps})
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("plot load: %w", err)
		}
		line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
		p.Add(line, points)
		p.Legend.Add(map[string]string{"standby": "host places everyone", "delegated": "delegated placement"}[name], line)
	}
	budget, err := plotter.NewLine(plotter.XYs{{X: float64(loadSizes[0]), Y: 100}, {X: float64(loadSizes[len(loadSizes)-1]), Y: 100}})
	if err != nil {
		return fmt.Errorf("plot load: %w", err)
	}
	budget.Color, budget.Dashes = color.Gray{Y: 120}, []vg.Length{vg.Points(3), vg.Points(3)}
	p.Add(budget)
	p.Legend.Add("100 kbit/s budget", budget)
	p.Legend.Top, p.Legend.Left = true, true
	return save(p, file)
}
