// Command clubsim is a discrete-event simulation of a clubnode room's
// relay tree with thousands of listeners. It drives the real placement
// code (rooms.Tree, rooms.Placer, rooms.Refer) under a stated model of
// arrivals, sessions, departures, network RTTs, uplinks and NATs, and
// reports the tree's depth and stretch, join times, repair gaps, how many
// listeners hear a gap, and the host's control load. Runs are seeded and
// deterministic.
//
//	go run ./cmd/clubsim                                 # 10,000 and 100,000 listeners, every policy
//	go run ./cmd/clubsim -listeners 10000 -policies standby,delegated -v
//	go run ./cmd/clubsim -plot docs/sim                  # the figures of BENCHMARKS.md
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		slog.Error("clubsim", "err", err)
		os.Exit(1)
	}
}

type job struct {
	m   Model
	pol Policy
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("clubsim", flag.ContinueOnError)
	sizes := fs.String("listeners", "10000,100000", "audience sizes, comma-separated")
	names := fs.String("policies", "today,learned,backups,standby,delegated", "policies, comma-separated")
	duration := fs.Duration("duration", time.Hour, "simulated time after the warm start")
	seed := fs.Uint64("seed", 1, "random seed")
	flash := fs.Duration("flash", 0, "flash crowd: all listeners arrive over this window into an empty room")
	plot := fs.String("plot", "", "run the figures' scenarios and write PNGs to this folder")
	verbose := fs.Bool("v", false, "print every run in full, not only the comparison table")
	guess := fs.Bool("no-bench", false, "use fixed CPU costs instead of measuring them (faster)")
	parallel := fs.Int("parallel", 2, "runs at once")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the runs to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile at the end to this file")
	near := fs.String("near", "coord", "how learning policies' nodes say who is near: coord, measured or none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := validNear(*near); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	cpu := guessedCPU
	if !*guess {
		fmt.Fprintln(out, "measuring the CPU of placement, signing and verifying (testing.Benchmark)...")
		var err error
		if cpu, err = measureCPU(); err != nil {
			return err
		}
	}
	writeCPU(out, cpu)
	if *plot != "" {
		return plotAll(*plot, cpu, *seed, *parallel, out)
	}
	jobs, err := jobsFor(*sizes, *names, *near, func(m *Model) { m.Duration, m.Seed, m.Flash = *duration, *seed, *flash })
	if err != nil {
		return err
	}
	rs, walls, err := runAll(jobs, cpu, *parallel)
	if err != nil {
		return err
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
		defer f.Close()
		if err := pprof.WriteHeapProfile(f); err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
	}
	compare(out, rs)
	if *verbose {
		for i, r := range rs {
			r.write(out, walls[i])
		}
	}
	return nil
}

// jobsFor is one run per audience size in sizes and policy in names,
// each model set by the flags (set).
func jobsFor(sizes, names, near string, set func(*Model)) ([]job, error) {
	var jobs []job
	for _, sz := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(sz))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("listeners %q: want a positive number", sz)
		}
		for _, name := range strings.Split(names, ",") {
			pol, ok := policyNamed(strings.TrimSpace(name))
			if !ok {
				return nil, fmt.Errorf("unknown policy %q", name)
			}
			if pol.Learned && near != "coord" {
				pol.Near = near
				pol.Name += "/" + near
			}
			m := DefaultModel(n)
			set(&m)
			jobs = append(jobs, job{m, pol})
		}
	}
	return jobs, nil
}

func writeCPU(w io.Writer, c cpuCosts) {
	how := "measured on this machine"
	if !c.measured {
		how = "fixed guesses (-no-bench)"
	}
	fmt.Fprintf(w, "CPU per message, %s: place+sign %s (learned, 3 backups: %s), referral %s, delegation sign %s, join request verify %s, state sign %s + %s per listener\n",
		how, c.placeToday, c.placeLearned, c.refer, c.sign, c.verify, c.signStateBase, c.signStateN)
}

// runAll runs the jobs, parallel at a time, each deterministic on its own.
func runAll(jobs []job, cpu cpuCosts, parallel int) ([]*result, []time.Duration, error) {
	rs, walls := make([]*result, len(jobs)), make([]time.Duration, len(jobs))
	cs := make([]*costs, len(jobs))
	for i, j := range jobs {
		var err error
		if cs[i], err = measureCosts(j.pol, cpu); err != nil {
			return nil, nil, err
		}
	}
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			rs[i] = newSim(j.m, j.pol, cs[i]).run()
			walls[i] = time.Since(start)
			slog.Info("run done", "listeners", j.m.Listeners, "policy", j.pol.Name, "wall", walls[i].Round(time.Millisecond))
		}()
	}
	wg.Wait()
	return rs, walls, nil
}
