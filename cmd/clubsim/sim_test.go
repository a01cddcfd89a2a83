package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func small(n int, d time.Duration) Model {
	m := DefaultModel(n)
	m.Duration = d
	return m
}

func runPolicy(t *testing.T, m Model, name string) (*sim, *result) {
	t.Helper()
	pol, ok := policyNamed(name)
	if !ok {
		t.Fatalf("no policy %q", name)
	}
	c, err := measureCosts(pol, guessedCPU)
	if err != nil {
		t.Fatal(err)
	}
	s := newSim(m, pol, c)
	return s, s.run()
}

// TestSeedDeterminesTheRun: the same seed gives the same run, to the
// message; another seed does not. 2,000 listeners is enough for depths
// with more nodes than placement reads, where map order could creep in.
func TestSeedDeterminesTheRun(t *testing.T) {
	m := small(2000, 10*time.Minute)
	_, a := runPolicy(t, m, "delegated")
	_, b := runPolicy(t, m, "delegated")
	for what, pair := range map[string][2]any{
		"joins": {a.st.joins, b.st.joins}, "gaps": {a.st.gaps, b.st.gaps}, "depth": {a.st.depth, b.st.depth},
		"host load": {a.host.count, b.host.count}, "stretch": {a.st.stretch, b.st.stretch},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s differs between two runs with seed %d", what, m.Seed)
		}
	}
	m.Seed = 2
	if _, c := runPolicy(t, m, "delegated"); reflect.DeepEqual(a.st.joins, c.st.joins) {
		t.Error("seed 2 gave the same joins as seed 1")
	}
}

// TestTreeStaysSane: at the end of each policy's run every listener that
// hears the room hangs on a loop-free path from the host, no relay carries
// more than its capacity plus the backup headroom, and the run measured
// joins and repairs.
func TestTreeStaysSane(t *testing.T) {
	for _, pol := range policies {
		t.Run(pol.Name, func(t *testing.T) {
			s, r := runPolicy(t, small(500, 20*time.Minute), pol.Name)
			s.stamp++
			hearing := 0
			for _, n := range s.nodes {
				if !n.alive || !n.joined || n.speaker {
					continue
				}
				if kids := len(s.children(n)); kids > s.capacity(n)+1 && n.own == nil {
					t.Errorf("%s carries %d children, capacity %d", n.id, kids, s.capacity(n))
				}
				if d, _, ok := s.pathOf(n); ok {
					hearing++
					if d < 1 || d > 40 {
						t.Errorf("%s at depth %d", n.id, d)
					}
				}
			}
			if hearing < s.st.present/2 {
				t.Errorf("%d of %d listeners hear the room", hearing, s.st.present)
			}
			if len(r.st.joins) == 0 || len(r.st.gaps["clean"]) == 0 || r.host.count[kJoinPlace]+r.host.count[kReferral]+r.host.count[kReferJoin] == 0 {
				t.Errorf("nothing measured: %d joins, %d gaps", len(r.st.joins), len(r.st.gaps["clean"]))
			}
		})
	}
}

// TestStandbyBackupsRepairFast: with standby backups a relay's silent
// death is repaired in a few hundred milliseconds; with today's detector
// and a new request to the host it takes over a second.
func TestStandbyBackupsRepairFast(t *testing.T) {
	m := small(1000, 30*time.Minute)
	_, today := runPolicy(t, m, "today")
	_, standby := runPolicy(t, m, "standby")
	slow, fast := today.st.gaps["silent, speaking"], standby.st.gaps["silent, speaking"]
	if len(slow) < 20 || len(fast) < 20 {
		t.Fatalf("too few silent deaths: %d and %d", len(slow), len(fast))
	}
	if q := quantile(slow, 0.5); q < time.Second {
		t.Errorf("today's median repair %s, expected over a second", q)
	}
	if q := quantile(fast, 0.5); q > 300*time.Millisecond {
		t.Errorf("standby median repair %s, expected under 300 ms", q)
	}
}

// TestDelegationUnloadsTheHost: delegating placement leaves the host only
// referrals: fewer placement messages than placing everyone itself.
func TestDelegationUnloadsTheHost(t *testing.T) {
	m := small(1000, 20*time.Minute)
	_, central := runPolicy(t, m, "standby")
	_, delegated := runPolicy(t, m, "delegated")
	c, d := central.host.rates(m.Duration)["placement"], delegated.host.rates(m.Duration)["placement"]
	if d.msgs >= c.msgs/2 {
		t.Errorf("host placement messages: %.1f/s delegated, %.1f/s central", d.msgs, c.msgs)
	}
	if delegated.host.count[kRepair] != 0 {
		t.Errorf("the host handled %d repairs under delegation", delegated.host.count[kRepair])
	}
}

func TestCommandLine(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"-no-bench", "-listeners", "200", "-duration", "5m", "-policies", "today,delegated", "-v"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 200 | today |", "| 200 | delegated |", "host control load"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, bad := range [][]string{{"-listeners", "x"}, {"-policies", "nope"}, {"-listeners", "0"}, {"-near", "far"}} {
		if err := run(append([]string{"-no-bench"}, bad...), &out); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// TestPlotsAreWritten draws the three figures from small runs.
func TestPlotsAreWritten(t *testing.T) {
	m := small(300, 10*time.Minute)
	var rs []*result
	for _, name := range []string{"today", "standby", "delegated"} {
		_, r := runPolicy(t, m, name)
		rs = append(rs, r)
	}
	dir := t.TempDir()
	if err := plotDepth(filepath.Join(dir, "depth.png"), rs); err != nil {
		t.Fatal(err)
	}
	if err := plotGaps(filepath.Join(dir, "gaps.png"), rs); err != nil {
		t.Fatal(err)
	}
	if err := plotLoad(filepath.Join(dir, "load.png"), map[string][]*result{"standby": rs[1:2], "delegated": rs[2:]}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"depth.png", "gaps.png", "load.png"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
			t.Errorf("%s: not a PNG (%v)", f, err)
		}
	}
}

// TestMeasuredRTTsShortenStretch: nodes that report measured RTTs to the
// members they know get nearer parents than nodes that report no
// nearness, and the run stays determined by its seed.
func TestMeasuredRTTsShortenStretch(t *testing.T) {
	m := small(2000, 10*time.Minute)
	run := func(near string) *result {
		pol, _ := policyNamed("standby")
		pol.Near = near
		c, err := measureCosts(pol, guessedCPU)
		if err != nil {
			t.Fatal(err)
		}
		return newSim(m, pol, c).run()
	}
	none, measured, again := run(nearNone), run(nearMeasured), run(nearMeasured)
	if !reflect.DeepEqual(measured.st.stretch, again.st.stretch) {
		t.Error("two measured runs with one seed differ")
	}
	if a, b := quantile(none.st.stretch, 0.5), quantile(measured.st.stretch, 0.5); b >= 0.95*a {
		t.Errorf("median stretch %.2f with measured RTTs, %.2f without: want 5 %% shorter at least", b, a)
	}
}
