package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/daemontest"
)

func TestMain(m *testing.M) { os.Exit(daemontest.Main(m)) }

// TestBenchSmall runs the benchmark command's whole scenario at a size CI
// affords: six daemons, capacity 4 (so the tree is two deep), short
// windows, two frozen relays. Every member must get the speech, the
// deepest recordings must hold it, and every child of a frozen relay must
// hear again before the relay is resumed (how fast, and how well the
// recordings match, are the benchmark's to say: `clubnode listen` plays
// out through a jitter buffer that a loaded CI machine starves).
func TestBenchSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six daemons")
	}
	o := options{n: 6, capacity: 4, par: 3, speech: 4 * time.Second, idle: time.Second, freezes: 2, record: 2, poll: 20 * time.Millisecond,
		bin: daemontest.MustBinary(t), dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := run(ctx, o, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	var report strings.Builder
	if res != nil {
		res.print(&report, o)
	}
	t.Log("\n" + report.String())
	if err != nil {
		t.Fatal(err)
	}
	deepest := 0
	for _, d := range res.depth {
		deepest = max(deepest, d)
	}
	if len(res.depth) != o.n-1 || deepest < 2 {
		t.Fatalf("%d members placed, depth %d; want %d, at least 2", len(res.depth), deepest, o.n-1)
	}
	for i, n := range res.received {
		if n*10 < res.expected*9 {
			t.Errorf("member %d got %d of the speech's %d packets", i, n, res.expected)
		}
	}
	for i, c := range res.corr {
		if c < audiotest.MatchThreshold/2 {
			t.Errorf("recording at depth %d matches only %.2f: not the speech", res.corrDepth[i], c)
		}
	}
	if len(res.gaps) == 0 {
		t.Fatal("no child of a frozen relay was watched")
	}
	for _, g := range res.gaps {
		if g >= 2*time.Second { // frozen for 2.5 s: a child still waiting was never repaired
			t.Errorf("a frozen relay's child was silent %v: not repaired while the relay was frozen", g)
		}
	}
}
