package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/node/apiv1"
)

// options are one run's settings (see main's flags).
type options struct {
	n, capacity, par int
	flash            bool
	speech, idle     time.Duration
	// settle is how long the network is left alone before the idle
	// window: without it, "idle" holds the network's forming (member
	// syncs, DHT searches, connections made).
	settle          time.Duration
	freezes, record int
	// compare starts every other member without the watch on its
	// parent's audio (--media-stall -1): repair gaps then come both ways.
	compare bool
	// profile has every daemon write a CPU and a heap profile of its run
	// (--cpu-profile, --heap-profile) into the run's folder.
	profile bool
	// standby has every daemon keep a standby link to its first backup
	// (--standby-links).
	standby bool
	// until, if set, ends the run after the phase of that name (e.g.
	// "idle", "silent room"), so that profiles cover the phases up to it.
	until string
	// poll is how often each joining member's API is asked whether it is
	// placed and hearing. Every member is asked at once, so at 20 ms and
	// 100 members the bench itself makes 5,000 API calls a second on the
	// machine the daemons share; joinCPU says what that costs.
	poll     time.Duration
	bin, dir string
}

// result is what one run measured.
type result struct {
	hallway   []time.Duration // room created → listed in each member's hallway
	unlisted  int             // members whose hallway did not list it in a minute
	unplaced  int             // members not placed in a minute
	admitted  []time.Duration // join request → the host's reply (in the room's state)
	joins     []time.Duration // join request → placed (a parent in the tree)
	hearing   []time.Duration // with -flash: join request → first packet
	joinAll   time.Duration   // all joins, first request to last placed
	joinCPU   joinCPU         // CPU used while the joins ran
	depth     map[string]int  // peer → depth (host 0)
	idleCPU   []float64       // per member, share of one core
	silentCPU []float64
	speakCPU  []float64
	rss       []int64
	private   []int64   // per daemon: what it holds alone (not the binary's shared pages)
	received  []uint64  // per member: packets of the speech
	expected  uint64    // packets the speech has
	corr      []float64 // deepest listeners' recordings against the source
	corrDepth []int
	gaps      []time.Duration // children of frozen relays: longest silence
	gapsOff   []time.Duration // the same, children without the watch (compare)
	load      []string        // load average at each phase
}

// bench is one run: its options, daemons and room.
type bench struct {
	o    options
	log  *slog.Logger
	c    *cluster
	room string
	res  *result
	in   []*daemon // members placed in the room, after join
}

func (b *bench) host() *daemon { return b.c.daemons[0] }

// members are the daemons other than the host: once the joins are done,
// those that were placed in the room.
func (b *bench) members() []*daemon {
	if b.in != nil {
		return b.in
	}
	return b.c.daemons[1:]
}

func (b *bench) pids() []int {
	out := make([]int, 0, len(b.c.daemons))
	for _, d := range b.c.daemons {
		out = append(out, d.cmd.Process.Pid)
	}
	return out
}

func (b *bench) phase(name string) {
	b.res.load = append(b.res.load, name+": "+loadAverage())
	b.log.Info("phase", "name", name, "load", loadAverage())
}

// run starts o.n daemons, builds the network and the room, and measures.
func run(ctx context.Context, o options, log *slog.Logger) (*result, error) {
	b := &bench{o: o, log: log, c: &cluster{bin: o.bin, dir: o.dir}, res: &result{depth: map[string]int{}}}
	defer b.c.stop()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"start daemons", func(ctx context.Context) error { return b.c.start(ctx, o.n, o.capacity, o.par, b.flags) }},
		{"network", b.network},
		{"settle", func(ctx context.Context) error {
			if !group.Sleep(ctx, o.settle) {
				return ctx.Err()
			}
			return nil
		}},
		{"idle", func(ctx context.Context) error { return b.cpuWindow(ctx, &b.res.idleCPU) }},
		{"room", b.createRoom},
		{"join", b.join},
		{"silent room", func(ctx context.Context) error { return b.cpuWindow(ctx, &b.res.silentCPU) }},
		{"speech", b.speak},
		{"freeze relays", b.freezeRelays},
	}
	for _, s := range steps {
		b.phase(s.name)
		if err := s.fn(ctx); err != nil {
			return b.res, fmt.Errorf("%s: %w", s.name, err)
		}
		if s.name == o.until {
			break
		}
	}
	for _, pid := range b.pids() {
		rss, _ := rssBytes(pid)
		b.res.rss = append(b.res.rss, rss)
		private, _ := privateBytes(pid)
		b.res.private = append(b.res.private, private)
	}
	return b.res, nil
}

// flags are the i-th daemon's extra flags.
func (b *bench) flags(i int) []string {
	var out []string
	if b.watchOff(i) {
		out = append(out, "--media-stall", "-1ms")
	}
	if b.o.standby {
		out = append(out, "--standby-links")
	}
	if b.o.profile {
		name := fmt.Sprintf("member%03d", i)
		if i == 0 {
			name = "host"
		}
		out = append(out, "--cpu-profile", filepath.Join(b.o.dir, name+"-cpu.prof"),
			"--heap-profile", filepath.Join(b.o.dir, name+"-heap.prof"))
	}
	return out
}

// watchOff says whether the i-th daemon runs without the watch on its
// parent's audio: with compare, every even member.
func (b *bench) watchOff(i int) bool { return b.o.compare && i > 0 && i%2 == 0 }

// network founds a network at the host and joins everyone else to it.
func (b *bench) network(ctx context.Context) error {
	if _, err := b.host().api.CreateNetwork(ctx, "Bench"); err != nil {
		return err
	}
	inv, err := b.host().api.CreateInvite(ctx, apiv1.CreateInviteRequest{Uses: b.o.n, ExpiresSeconds: 3600})
	if err != nil {
		return err
	}
	ms := b.members()
	return parallel(ctx, len(ms), b.o.par, func(ctx context.Context, i int) error {
		// A busy inviter may drop a newcomer's connection (it admits
		// unproven peers on a budget): try again, as a person would.
		return eventually(ctx, 2*time.Minute, time.Second, func() error {
			_, err := ms[i].api.Join(ctx, inv.Token)
			if err != nil {
				b.log.Warn("join the network", "node", ms[i].name, "err", err)
			}
			return err
		})
	})
}

// cpuWindow measures every member's CPU share over o.idle.
func (b *bench) cpuWindow(ctx context.Context, into *[]float64) error {
	pids := b.pids()[1:]
	w := beginCPU(pids)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.o.idle):
	}
	*into = w.end(pids)
	return nil
}

// createRoom opens a room at the host and times how long each member's
// hallway takes to list it.
func (b *bench) createRoom(ctx context.Context) error {
	st, err := b.host().api.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Bench", Type: "open"})
	if err != nil {
		return err
	}
	b.room = st.ID
	created := time.Now()
	ms := b.members()
	var mu sync.Mutex
	return parallel(ctx, len(ms), len(ms), func(ctx context.Context, i int) error {
		err := eventually(ctx, time.Minute, 50*time.Millisecond, func() error {
			rooms, err := ms[i].api.Hallway(ctx)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(rooms, func(r apiv1.Room) bool { return r.ID == b.room }) {
				return fmt.Errorf("%s's hallway does not list the room", ms[i].name)
			}
			mu.Lock()
			b.res.hallway = append(b.res.hallway, time.Since(created))
			mu.Unlock()
			return nil
		})
		if err != nil && ctx.Err() == nil {
			b.log.Warn("room not listed", "err", err)
			mu.Lock()
			b.res.unlisted++
			mu.Unlock()
			return nil
		}
		return err
	})
}

// join has every member join the room: one after another, or all at once
// with o.flash (while the host speaks, so that hearing is timed too).
func (b *bench) join(ctx context.Context) error {
	ms := b.members()
	par := 1
	if b.o.flash {
		par = len(ms)
		stop, err := b.startSpeaking(ctx, 30*time.Second, 99)
		if err != nil {
			return err
		}
		defer stop()
	}
	var mu sync.Mutex
	pids := b.pids()
	cpu, benchCPU := beginCPU(pids), ownCPU()
	first := time.Now()
	in := make([]bool, len(ms))
	err := parallel(ctx, len(ms), par, func(ctx context.Context, i int) error {
		asked := time.Now()
		placed, joined := false, false
		err := eventually(ctx, time.Minute, b.o.poll, func() error {
			if !joined { // a hallway late to list the room refuses the join: try again
				if _, err := ms[i].api.RoomAction(ctx, b.room, apiv1.ActionJoin, apiv1.RoomActionRequest{}); err != nil {
					return fmt.Errorf("%s joins: %w", ms[i].name, err)
				}
				joined = true
				mu.Lock()
				b.res.admitted = append(b.res.admitted, time.Since(asked))
				mu.Unlock()
			}
			st, err := ms[i].api.Room(ctx, b.room)
			if err != nil {
				return err
			}
			if st.Audio == nil || st.Audio.Parent == "" {
				return fmt.Errorf("%s has no parent", ms[i].name)
			}
			mu.Lock()
			defer mu.Unlock()
			if !placed {
				placed = true
				b.res.joins = append(b.res.joins, time.Since(asked))
			}
			if b.o.flash && st.Audio.PacketsIn == 0 {
				return fmt.Errorf("%s hears nothing yet from its parent %s (%s)", ms[i].name,
					b.nameOf(st.Audio.Parent), describeAudio(st.Audio))
			}
			if b.o.flash {
				b.res.hearing = append(b.res.hearing, time.Since(asked))
			}
			in[i] = true
			return nil
		})
		if err != nil && ctx.Err() == nil {
			b.log.Warn("not in the room", "node", ms[i].name, "err", err)
			return nil
		}
		return err
	})
	b.res.joinAll = time.Since(first)
	b.res.joinCPU = joinCPU{bench: ownCPU() - benchCPU}
	for i, used := range cpu.used(pids) {
		if i == 0 {
			b.res.joinCPU.host = used
		}
		b.res.joinCPU.daemons += used
	}
	if err != nil {
		return err
	}
	b.in = []*daemon{}
	for i, ok := range in {
		if ok {
			b.in = append(b.in, ms[i])
		}
	}
	b.res.unplaced = len(ms) - len(b.in)
	return b.readDepths(ctx)
}

// nameOf is the daemon name of peer id, or id itself if it is none of
// the run's.
func (b *bench) nameOf(id string) string {
	for _, d := range b.c.daemons {
		if d.id == id {
			return d.name
		}
	}
	return id
}

// describeAudio says what a node's links and counters are, for a member
// that hears nothing.
func describeAudio(a *apiv1.RoomAudio) string {
	var links []string
	for _, l := range a.Links {
		links = append(links, fmt.Sprintf("%s %s path %q rtt %.0f ms", l.Role, l.Peer, l.Path, l.RTTMillis))
	}
	return fmt.Sprintf("links [%s], %d children, verified %d, refused %v", strings.Join(links, "; "), len(a.Children), a.Verified, a.Refused)
}

// readDepths asks every node for its parent and works out the depths.
func (b *bench) readDepths(ctx context.Context) error {
	parent := map[string]string{}
	for _, d := range b.members() {
		st, err := d.api.Room(ctx, b.room)
		if err != nil {
			return err
		}
		if st.Audio != nil {
			parent[d.id] = st.Audio.Parent
		}
	}
	for _, d := range b.members() {
		depth, cur := 0, d.id
		for cur != b.host().id && depth <= len(parent) {
			cur = parent[cur]
			depth++
		}
		b.res.depth[d.id] = depth
	}
	return nil
}
