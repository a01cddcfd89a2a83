// Command clubbench runs real clubnode daemons on 127.0.0.1 in one room
// and measures them: what each costs idle, in a silent room and while the
// host speaks (CPU from /proc/PID/stat, RSS), how long the hallway takes
// to list a new room, how long joins take (one after another, or all at
// once with -flash), the relay tree's depth, every node's packet counter
// from its API, how well the deepest listeners' recordings match the
// spoken WAV, and the repair gap when a relay freezes (SIGSTOP: no
// goodbye, its connections stay open).
//
//	go build -o /tmp/clubnode ./cmd/clubnode
//	nice -n 10 go run ./cmd/clubbench -bin /tmp/clubnode -n 40
//
// Without -bin it builds clubnode into a temporary folder first.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() { os.Exit(realMain()) }

func realMain() int {
	var o options
	flag.IntVar(&o.n, "n", 10, "daemons, the host included")
	flag.IntVar(&o.capacity, "capacity", 4, "relay capacity of every daemon")
	flag.BoolVar(&o.flash, "flash", false, "everyone asks to join at the same moment, while the host speaks")
	flag.DurationVar(&o.speech, "speech", 6500*time.Millisecond, "length of the speech the host speaks")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "length of the idle and silent-room CPU windows")
	flag.DurationVar(&o.settle, "settle", 0, "how long the network is left alone before the idle window (0: idle begins as the last member joins)")
	flag.IntVar(&o.freezes, "freezes", 6, "relays frozen (SIGSTOP) one after another to measure repair")
	flag.IntVar(&o.record, "record", 4, "deepest listeners that record the speech")
	flag.BoolVar(&o.compare, "compare", false, "every other member runs without the watch on its parent's audio (--media-stall -1ms), for repair gaps both ways")
	flag.BoolVar(&o.profile, "profile", false, "every daemon writes a CPU and a heap profile of its run to host-cpu.prof and host-heap.prof, or memberNNN-cpu.prof and memberNNN-heap.prof, in the run's folder (use with -keep; go tool pprof merges them)")
	flag.StringVar(&o.until, "until", "", "end the run after this phase: network, idle, room, join, silent room, speech")
	flag.BoolVar(&o.standby, "standby", false, "every daemon keeps a standby link to its first backup (--standby-links)")
	flag.IntVar(&o.par, "par", 4, "daemons started or joined at once")
	flag.DurationVar(&o.poll, "poll", 20*time.Millisecond, "how often each joining member's API is asked whether it is placed and hearing")
	bin := flag.String("bin", "", "clubnode binary (default: build it)")
	keep := flag.Bool("keep", false, "keep the daemons' homes (logs) afterwards")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "clubbench-")
	if err != nil {
		return fail(err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintln(os.Stderr, "homes in", dir)
	}
	o.bin, o.dir = *bin, dir
	if o.bin == "" {
		o.bin = filepath.Join(dir, "clubnode")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", o.bin, "github.com/clubnode/clubnode/cmd/clubnode").CombinedOutput(); err != nil {
			return fail(fmt.Errorf("build clubnode: %w: %s", err, out))
		}
	}
	res, err := run(ctx, o, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if res != nil {
		res.print(os.Stdout, o)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "clubbench:", err)
	return 1
}
