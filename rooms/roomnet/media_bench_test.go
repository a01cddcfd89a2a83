package roomnet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// The media benchmarks run real rooms on loopback and report times with
// b.ReportMetric; ns/op is the cost of a whole round and means little.
//
//	go test ./rooms/roomnet -run '^$' -bench Media -benchtime 3x

// BenchmarkMediaMouthToEar: a chain host → L1 → L2 → L3 → L4 (capacity 1),
// a speaker under the host. Mouth to ear is from the frame entering the
// speaker's node to the same sound leaving a listener's jitter buffer (the
// default 60 ms delay), found by matching the played audio to the speech.
func BenchmarkMediaMouthToEar(b *testing.B) {
	ms := startMembersWith(b, 6, mediaConfig(b, func(i int) int {
		if i == 5 {
			return 0 // the speaker relays nobody
		}
		return 1
	}, nil))
	h, chain, spk := ms[0], ms[1:5], ms[5]
	id := stageInOrder(b, h, chain, spk)
	caps := make([]*capture, len(chain))
	for i, l := range chain {
		caps[i] = listen(b, l, id)
	}
	byDepth := make([][]time.Duration, len(chain))
	for b.Loop() {
		for _, c := range caps {
			c.reset()
		}
		sp := speak(b, context.Background(), spk, id, audiotest.Speech(1500*time.Millisecond, int64(b.N)))
		// The signed tail too: a packet arriving after the next round's
		// reset would be taken for the start of its speech.
		testutil.Eventually(b, 10*time.Second, func() error {
			for i, c := range caps {
				if err := c.settled(spk.id.String(), 70); err != nil {
					return fmt.Errorf("listener %d: %w", i, err)
				}
			}
			return nil
		})
		for i, c := range caps {
			got, firstPlayed, stats := c.decode(b, spk.id.String(), 0)
			corr, lag := audiotest.Match(sp.pcm, got, time.Second)
			if corr < audiotest.MatchThreshold {
				b.Fatalf("depth %d: match %.2f; jitter buffer %+v", i+1, corr, stats)
			}
			byDepth[i] = append(byDepth[i], firstPlayed.Sub(sp.start)+lag)
		}
	}
	for i, ds := range byDepth {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, fmt.Sprintf("ms-depth%d", i+1))
	}
}

// stageInOrder makes a room whose listeners join one after another (so
// with capacity 1 they form a chain), then puts spk on stage unmuted.
func stageInOrder(tb testing.TB, h *member, listeners []*member, spk *member) rooms.RoomID {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := h.rooms.Create(ctx, "Bench", rooms.TypeOpen, time.Time{})
	if err != nil {
		tb.Fatal(err)
	}
	id := st.Room
	for _, m := range append(slices.Clone(listeners), spk) {
		sees(tb, m, id, true)
		if _, err := m.rooms.Request(ctx, id, rooms.KindJoin, "", nil); err != nil {
			tb.Fatal(err)
		}
		testutil.Eventually(tb, 10*time.Second, func() error {
			if st, ok := m.rooms.Media(id); !ok || st.Parent == "" {
				return fmt.Errorf("%s has no parent", m.id)
			}
			return nil
		})
	}
	if _, err := h.rooms.Request(ctx, id, rooms.KindInviteSpeaker, spk.id, nil); err != nil {
		tb.Fatal(err)
	}
	hasState(tb, spk, id, "invited", func(s *rooms.SignedState) bool { return slices.Contains(s.Invited, spk.id) })
	if _, err := spk.rooms.Request(ctx, id, rooms.KindAcceptInvite, "", nil); err != nil {
		tb.Fatal(err)
	}
	if _, err := spk.rooms.Request(ctx, id, rooms.KindUnmuteSelf, "", nil); err != nil {
		tb.Fatal(err)
	}
	testutil.Eventually(tb, 10*time.Second, func() error {
		if st, _ := spk.rooms.Media(id); st.Parent != h.id {
			return fmt.Errorf("speaker hangs under %s, not the host", st.Parent)
		}
		return nil
	})
	return id
}

func (c *capture) reset() {
	c.mu.Lock()
	clear(c.packets)
	c.mu.Unlock()
}

func waitPackets(tb testing.TB, caps []*capture, speaker string, n int) {
	tb.Helper()
	testutil.Eventually(tb, 10*time.Second, func() error {
		for i, c := range caps {
			if got := c.count(speaker); got < n {
				return fmt.Errorf("listener %d has %d packets", i, got)
			}
		}
		return nil
	})
}

// BenchmarkMediaJoinToFirstAudio: while a speaker talks, a member joins
// the room; the time from its join request to the first packet of the
// speaker at its node.
func BenchmarkMediaJoinToFirstAudio(b *testing.B) {
	ms := startMembersWith(b, 4, mediaConfig(b, func(int) int { return 2 }, nil))
	h, s, early, joiner := ms[0], ms[1], ms[2], ms[3]
	id := stage(b, ms, h, []*member{s}, []*member{early})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			speak(b, ctx, s, id, audiotest.Speech(2*time.Second, 9))
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	sees(b, joiner, id, true)
	var times []time.Duration
	for b.Loop() {
		first := make(chan time.Time, 1)
		start := time.Now()
		if _, err := joiner.rooms.Request(ctx, id, rooms.KindJoin, "", nil); err != nil {
			b.Fatal(err)
		}
		remove, err := joiner.rooms.Listen(id, func(speaker string, _ *rtp.Packet) {
			select {
			case first <- time.Now():
			default:
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-first:
			times = append(times, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("no audio 10 s after joining")
		}
		remove()
		if _, err := joiner.rooms.Request(ctx, id, rooms.KindLeave, "", nil); err != nil {
			b.Fatal(err)
		}
		hasState(b, h, id, "joiner gone", func(st *rooms.SignedState) bool { return !st.InRoom(joiner.id) })
		testutil.Eventually(b, 10*time.Second, func() error {
			if _, ok := joiner.rooms.Media(id); ok {
				return fmt.Errorf("joiner still has media")
			}
			return nil
		})
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-join-to-audio")
}

// BenchmarkMediaRepairGap: host → relay → child, a speaker talking; the
// relay's node stops (its connections close, as when its process is
// killed). The longest silence at the child, from just before the kill
// until audio flows again through its new parent.
func BenchmarkMediaRepairGap(b *testing.B) {
	var gaps []time.Duration
	for b.Loop() {
		b.StopTimer()
		ms := startMembersWith(b, 4, mediaConfig(b, func(i int) int {
			if i == 0 {
				return 1
			}
			return 2
		}, nil))
		h, s, relay, child := ms[0], ms[1], ms[2], ms[3]
		id := stageInOrder(b, h, []*member{relay, child}, s)
		c := listen(b, child, id)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); speak(b, ctx, s, id, audiotest.Speech(8*time.Second, 3)) }()
		waitPackets(b, []*capture{c}, s.id.String(), 25)
		b.StartTimer()
		killed := time.Now()
		relay.close()
		testutil.Eventually(b, 10*time.Second, func() error {
			if n := c.countSince(s.id.String(), killed); n < 25 {
				return fmt.Errorf("child heard %d packets since the kill", n)
			}
			return nil
		})
		gaps = append(gaps, c.longestGap(s.id.String(), killed.Add(-100*time.Millisecond)))
		cancel()
		wg.Wait()
		for _, m := range ms {
			m.close()
		}
	}
	slices.Sort(gaps)
	b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds())/1000, "ms-repair-gap")
}
