package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/group"
)

// startSpeaking has the host speak d of synthetic speech in the
// background; stop ends it.
func (b *bench) startSpeaking(ctx context.Context, d time.Duration, seed int64) (stop func(), err error) {
	path := filepath.Join(b.o.dir, fmt.Sprintf("speech-%d.wav", seed))
	if err := audiotest.WriteWAV(path, audiotest.Speech(d, seed)); err != nil {
		return nil, fmt.Errorf("speech: %w", err)
	}
	cmd := exec.CommandContext(ctx, b.o.bin, "--home", b.host().home, "speak", b.room, "--input", path)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("speak: %w", err)
	}
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}

// packetsIn reads every member's packet counter for the room.
func (b *bench) packetsIn(ctx context.Context) ([]uint64, error) {
	out := make([]uint64, len(b.members()))
	for i, d := range b.members() {
		st, err := d.api.Room(ctx, b.room)
		if err != nil {
			return nil, err
		}
		if st.Audio != nil {
			out[i] = st.Audio.PacketsIn
		}
	}
	return out, nil
}

// speak has the host speak o.speech of speech while the deepest members
// record it; it measures CPU meanwhile and the packets that reached every
// member.
func (b *bench) speak(ctx context.Context) error {
	speech := audiotest.Speech(b.o.speech, 7)
	path := filepath.Join(b.o.dir, "speech.wav")
	if err := audiotest.WriteWAV(path, speech); err != nil {
		return fmt.Errorf("speech: %w", err)
	}
	ms := slices.Clone(b.members())
	slices.SortStableFunc(ms, func(x, y *daemon) int { return b.res.depth[y.id] - b.res.depth[x.id] })
	recorders := ms[:min(b.o.record, len(ms))]
	listens := make([]*exec.Cmd, len(recorders))
	for i, d := range recorders {
		out := filepath.Join(b.o.dir, fmt.Sprintf("heard-%d.wav", i))
		listens[i] = exec.CommandContext(ctx, b.o.bin, "--home", d.home, "listen", b.room, "--output", out,
			"--duration", (b.o.speech + 6*time.Second).String())
		if err := listens[i].Start(); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	// The listeners attach to their nodes (a WHEP session each) first.
	if !group.Sleep(ctx, 2*time.Second) {
		return ctx.Err()
	}
	before, err := b.packetsIn(ctx)
	if err != nil {
		return err
	}
	pids := b.pids()[1:]
	w := beginCPU(pids)
	if out, err := exec.CommandContext(ctx, b.o.bin, "--home", b.host().home, "speak", b.room, "--input", path).CombinedOutput(); err != nil {
		return fmt.Errorf("speak: %w: %s", err, out)
	}
	b.res.speakCPU = w.end(pids)
	for _, l := range listens {
		if err := l.Wait(); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	after, err := b.packetsIn(ctx)
	if err != nil {
		return err
	}
	b.res.expected = uint64(b.o.speech / (20 * time.Millisecond))
	for i := range after {
		b.res.received = append(b.res.received, after[i]-before[i])
	}
	for i, d := range recorders {
		heard, err := audiotest.ReadWAV(filepath.Join(b.o.dir, fmt.Sprintf("heard-%d.wav", i)))
		if err != nil {
			return err
		}
		corr, _ := audiotest.Match(speech, heard, 8*time.Second)
		b.res.corr = append(b.res.corr, corr)
		b.res.corrDepth = append(b.res.corrDepth, b.res.depth[d.id])
	}
	return nil
}

// freezeRelays freezes relays one after another (SIGSTOP: the process
// stops, its sockets stay open, as a hung or cut-off node would) while the
// host speaks, and measures each child's longest silence.
func (b *bench) freezeRelays(ctx context.Context) error {
	if b.o.freezes <= 0 {
		return nil
	}
	stop, err := b.startSpeaking(ctx, time.Duration(b.o.freezes)*5*time.Second+10*time.Second, 11)
	if err != nil {
		return err
	}
	defer stop()
	if !group.Sleep(ctx, 2*time.Second) {
		return ctx.Err()
	}
	for r := 0; r < b.o.freezes; r++ {
		relay, children, err := b.pickRelay(ctx, r)
		if err != nil {
			return err
		}
		gaps, err := b.freeze(ctx, relay, children)
		if err != nil {
			return err
		}
		for i, g := range gaps {
			if b.watchOff(children[i].index) {
				b.res.gapsOff = append(b.res.gapsOff, g)
			} else {
				b.res.gaps = append(b.res.gaps, g)
			}
		}
		b.log.Info("froze a relay", "relay", relay.name, "children", len(children), "gaps", gaps)
		if !group.Sleep(ctx, 2*time.Second) { // the tree settles: the relay comes back and re-links
			return ctx.Err()
		}
	}
	return nil
}

// pickRelay picks the r-th member (cycling) that relays to others now.
func (b *bench) pickRelay(ctx context.Context, r int) (*daemon, []*daemon, error) {
	byID := map[string]*daemon{}
	for _, d := range b.members() {
		byID[d.id] = d
	}
	type relay struct {
		d    *daemon
		kids []*daemon
	}
	var relays []relay
	for _, d := range b.members() {
		st, err := d.api.Room(ctx, b.room)
		if err != nil {
			return nil, nil, err
		}
		if st.Audio == nil || len(st.Audio.Children) == 0 {
			continue
		}
		rl := relay{d: d}
		for _, c := range st.Audio.Children {
			if k, ok := byID[c]; ok {
				rl.kids = append(rl.kids, k)
			}
		}
		relays = append(relays, rl)
	}
	if len(relays) == 0 {
		return nil, nil, fmt.Errorf("no member relays to others")
	}
	rl := relays[r%len(relays)]
	return rl.d, rl.kids, nil
}

// freeze stops relay for a while and returns the longest silence each of
// its children heard, from their packet counters polled every 10 ms.
func (b *bench) freeze(ctx context.Context, relay *daemon, children []*daemon) ([]time.Duration, error) {
	const hold = 2500 * time.Millisecond
	g := group.New(ctx)
	series := make([][]sample, len(children))
	var mu sync.Mutex
	for i, c := range children {
		g.Go(func(ctx context.Context) {
			for ctx.Err() == nil {
				if st, err := c.api.Room(ctx, b.room); err == nil && st.Audio != nil {
					mu.Lock()
					series[i] = append(series[i], sample{time.Now(), st.Audio.PacketsIn})
					mu.Unlock()
				}
				group.Sleep(ctx, 10*time.Millisecond)
			}
		})
	}
	group.Sleep(ctx, 300*time.Millisecond)
	if err := relay.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		g.Close()
		return nil, fmt.Errorf("stop %s: %w", relay.name, err)
	}
	group.Sleep(ctx, hold)
	g.Close()
	if err := relay.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return nil, fmt.Errorf("resume %s: %w", relay.name, err)
	}
	out := make([]time.Duration, len(series))
	for i, s := range series {
		out[i] = longestGap(s)
	}
	return out, nil
}

type sample struct {
	at time.Time
	n  uint64
}

// longestGap is the longest time between two increases of the counter,
// or from the last increase to the end if it stopped for good.
func longestGap(s []sample) time.Duration {
	var worst time.Duration
	var last time.Time
	for i := 1; i < len(s); i++ {
		if s[i].n > s[i-1].n {
			if !last.IsZero() {
				worst = max(worst, s[i].at.Sub(last))
			}
			last = s[i].at
		}
	}
	if len(s) > 0 && !last.IsZero() {
		worst = max(worst, s[len(s)-1].at.Sub(last))
	}
	return worst
}
