package roomnet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// mediaConfig gives member i audio on loopback with the given capacity.
func mediaConfig(t testing.TB, capacity func(i int) int, extra func(i int) func(*interceptor.Registry) error) func(int, *Config) {
	return func(i int, c *Config) {
		rc := rtc.Config{Logger: logger(), LoopbackOnly: true}
		if extra != nil {
			rc.Interceptors = extra(i)
		}
		api, err := rtc.NewAPI(rc)
		if err != nil {
			t.Fatal(err)
		}
		c.Media = api
		c.RelayCapacity = capacity(i)
		c.MediaTimeout = time.Second
	}
}

// capture records what one node hears: every audible speaker's packets
// with their arrival times, to be decoded afterwards on a virtual clock.
type capture struct {
	mu      sync.Mutex
	packets map[string][]arrival
}

type arrival struct {
	pkt *rtp.Packet
	at  time.Time
}

func listen(t testing.TB, m *member, room rooms.RoomID) *capture {
	t.Helper()
	c := &capture{packets: map[string][]arrival{}}
	remove, err := m.rooms.Listen(room, func(speaker string, pkt *rtp.Packet) {
		now := time.Now()
		c.mu.Lock()
		c.packets[speaker] = append(c.packets[speaker], arrival{pkt.Clone(), now})
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remove)
	return c
}

func (c *capture) count(speaker string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.packets[speaker])
}

func (c *capture) countSince(speaker string, t0 time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, a := range c.packets[speaker] {
		if a.at.After(t0) {
			n++
		}
	}
	return n
}

// longestGap is the longest time without a packet from speaker after t0:
// the repair gap when t0 is just before a parent died.
func (c *capture) longestGap(speaker string, t0 time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var gap time.Duration
	last := t0
	for _, a := range c.packets[speaker] {
		if a.at.After(t0) {
			gap = max(gap, a.at.Sub(last))
			last = a.at
		}
	}
	return gap
}

func (c *capture) since(speaker string, t0 time.Time) (first time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.packets[speaker] {
		if a.at.After(t0) {
			return a.at, true
		}
	}
	return time.Time{}, false
}

// decode plays speaker's packets through a jitter buffer on a virtual
// clock, as a listener's node would have in real time, and returns the PCM
// and the time its first sample was played.
func (c *capture) decode(t testing.TB, speaker string, delay time.Duration) ([]int16, time.Time, audio.Stats) {
	t.Helper()
	c.mu.Lock()
	arr := slices.Clone(c.packets[speaker])
	c.mu.Unlock()
	if len(arr) == 0 {
		return nil, time.Time{}, audio.Stats{}
	}
	sort.SliceStable(arr, func(i, j int) bool { return arr[i].at.Before(arr[j].at) })
	rx, err := audio.NewReceiver(audio.ReceiverConfig{Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	start := arr[0].at
	end := arr[len(arr)-1].at.Add(300 * time.Millisecond)
	var out []int16
	frame := make([]int16, audio.FrameSamples)
	next := 0
	for now := start; now.Before(end); now = now.Add(audio.FrameDuration) {
		for next < len(arr) && !arr[next].at.After(now) {
			rx.Push(arr[next].pkt, arr[next].at)
			next++
		}
		rx.Pull(now, frame)
		out = append(out, frame...)
	}
	return out, start, rx.Stats()
}

// transit is how long sp's packets took to reach c: arrival minus the
// moment the speaker sent that frame (median and 99th percentile).
func (c *capture) transit(speakerID peer.ID, sp *speaker) (median, p99 time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []time.Duration
	for _, a := range c.packets[speakerID.String()] {
		frame := time.Duration(a.pkt.Timestamp-sp.ts0) / audio.FrameSamples
		if sent, ok := sp.sent[frame]; ok {
			ds = append(ds, a.at.Sub(sent))
		}
	}
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*99/100]
}

// speaker sends a known signal into a room in real time, as the CLI's
// speak does, and remembers when it started.
type speaker struct {
	pcm   []int16
	start time.Time
	ssrc  uint32
	ts0   uint32
	sent  map[time.Duration]time.Time // frame index → when it was sent
}

func speak(t testing.TB, ctx context.Context, m *member, room rooms.RoomID, pcm []int16) *speaker {
	t.Helper()
	enc, err := audio.NewEncoder()
	if err != nil {
		t.Error(err)
		return nil
	}
	voice, err := m.rooms.Voice(room)
	if err != nil {
		t.Error(err)
		return nil
	}
	ssrc := rand.Uint32()
	seq := uint16(rand.Uint32())
	ts := rand.Uint32()
	s := &speaker{pcm: pcm, start: time.Now(), ssrc: ssrc, ts0: ts, sent: map[time.Duration]time.Time{}}
	tick := time.NewTicker(audio.FrameDuration)
	defer tick.Stop()
	for off := 0; off+audio.FrameSamples <= len(pcm); off += audio.FrameSamples {
		payload, err := enc.Encode(pcm[off : off+audio.FrameSamples])
		if err != nil {
			t.Error(err)
			return s
		}
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: audio.PayloadType, SequenceNumber: seq,
			Timestamp: ts, SSRC: ssrc, Marker: off == 0}, Payload: payload}
		s.sent[time.Duration(off/audio.FrameSamples)] = time.Now()
		if err := voice.Write(pkt); err != nil {
			t.Errorf("%s speaks: %v", m.id, err)
			return s
		}
		seq++
		ts += audio.FrameSamples
		select {
		case <-ctx.Done():
			return s
		case <-tick.C:
		}
	}
	return s
}

// heard checks that what reached c of sp's speech, decoded in sequence
// order with concealment for what is missing, matches what was said. It
// checks what arrived, not when: the tests run on a busy CI machine (and
// under the race detector); the benchmarks measure timing, with the
// jitter buffer.
func heard(t testing.TB, who string, c *capture, speakerID peer.ID, sp *speaker) {
	t.Helper()
	got, lost := c.content(t, speakerID.String())
	if got == nil {
		t.Fatalf("%s heard nothing from %s", who, speakerID)
	}
	corr, _ := audiotest.Match(sp.pcm, got, 2*time.Second)
	if corr < audiotest.MatchThreshold {
		t.Fatalf("%s: %s's audio matches only %.2f (threshold %.2f); %d frames missing",
			who, speakerID, corr, audiotest.MatchThreshold, lost)
	}
}

// content decodes every packet of speaker in sequence order, concealing
// the frames that never arrived, and counts those.
func (c *capture) content(t testing.TB, speaker string) ([]int16, int) {
	t.Helper()
	c.mu.Lock()
	arr := slices.Clone(c.packets[speaker])
	c.mu.Unlock()
	if len(arr) == 0 {
		return nil, 0
	}
	// Unwrap sequence numbers relative to the first packet received.
	bySeq := map[int64]*rtp.Packet{}
	base := arr[0].pkt.SequenceNumber
	lo, hi := int64(0), int64(0)
	for _, a := range arr {
		n := int64(int16(a.pkt.SequenceNumber - base))
		bySeq[n] = a.pkt
		lo, hi = min(lo, n), max(hi, n)
	}
	dec, err := audio.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, audio.FrameSamples)
	var out []int16
	lost := 0
	for n := lo; n <= hi; n++ {
		pkt, ok := bySeq[n]
		if ok {
			err = dec.Decode(pkt.Payload, frame)
		} else {
			lost++
			err = dec.Conceal(frame)
		}
		if err != nil {
			t.Fatalf("decode %s's packet %d: %v", speaker, n, err)
		}
		out = append(out, frame...)
	}
	return out, lost
}

// stage makes a room with host h, puts spk on stage unmuted and the
// listeners in the audience, and waits until every node has a parent.
func stage(t testing.TB, ms []*member, h *member, spk, listeners []*member) rooms.RoomID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := h.rooms.Create(ctx, "Relay tree", rooms.TypeOpen, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	if _, err := h.rooms.Request(ctx, id, rooms.KindUnmuteSelf, "", nil); err != nil {
		t.Fatal(err)
	}
	for _, m := range append(slices.Clone(spk), listeners...) {
		sees(t, m, id, true)
		if _, err := m.rooms.Request(ctx, id, rooms.KindJoin, "", nil); err != nil {
			t.Fatalf("%s join: %v", m.id, err)
		}
	}
	for _, m := range spk {
		if _, err := h.rooms.Request(ctx, id, rooms.KindInviteSpeaker, m.id, nil); err != nil {
			t.Fatal(err)
		}
		hasState(t, m, id, "invited", func(s *rooms.SignedState) bool { return slices.Contains(s.Invited, m.id) })
		if _, err := m.rooms.Request(ctx, id, rooms.KindAcceptInvite, "", nil); err != nil {
			t.Fatal(err)
		}
		hasState(t, m, id, "on stage", func(s *rooms.SignedState) bool { return s.OnStage(m.id) })
		if _, err := m.rooms.Request(ctx, id, rooms.KindUnmuteSelf, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	everyone := append(slices.Clone(spk), listeners...)
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, m := range everyone {
			st, ok := m.rooms.Media(id)
			if !ok || st.Parent == "" {
				return fmt.Errorf("%s has no parent yet", m.id)
			}
		}
		hs, _ := h.rooms.Media(id)
		if hs.Subtree != len(everyone)+1 {
			return fmt.Errorf("host counts %d in its tree, want %d", hs.Subtree, len(everyone)+1)
		}
		return nil
	})
	return id
}

// depthOf walks parents up to the host.
func depthOf(t testing.TB, byID map[peer.ID]*member, m *member, room rooms.RoomID, host peer.ID) int {
	d := 0
	for cur := m; cur.id != host; d++ {
		st, ok := cur.rooms.Media(room)
		if !ok || d > len(byID) || byID[st.Parent] == nil {
			t.Fatalf("%s not linked (parent %q)", cur.id, st.Parent)
		}
		cur = byID[st.Parent]
	}
	return d
}

func TestRelayTreeCarriesSpeakers(t *testing.T) {
	const listeners = 12
	ms := startMembersWith(t, 3+listeners, mediaConfig(t, func(i int) int { return 2 }, nil))
	h, s1, s2 := ms[0], ms[1], ms[2]
	ls := ms[3:]
	byID := map[peer.ID]*member{}
	for _, m := range ms {
		byID[m.id] = m
	}
	id := stage(t, ms, h, []*member{s1, s2}, ls)
	maxDepth := 0
	depth := map[peer.ID]int{}
	for _, l := range ls {
		depth[l.id] = depthOf(t, byID, l, id, h.id)
		maxDepth = max(maxDepth, depth[l.id])
	}
	if maxDepth < 3 {
		t.Fatalf("tree depth %d, want at least 3 with capacity 2", maxDepth)
	}
	caps := map[peer.ID]*capture{}
	for _, l := range ls {
		caps[l.id] = listen(t, l, id)
	}

	// Both speakers at once, each a different voice.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var sp1, sp2 *speaker
	wg.Add(2)
	go func() { defer wg.Done(); sp1 = speak(t, ctx, s1, id, audiotest.Speech(3*time.Second, 1)) }()
	go func() { defer wg.Done(); sp2 = speak(t, ctx, s2, id, audiotest.Speech(3*time.Second, 2)) }()
	wg.Wait()
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, l := range ls {
			if n := caps[l.id].count(s1.id.String()); n < 140 {
				return fmt.Errorf("%s has %d packets of speaker 1", l.id, n)
			}
		}
		return nil
	})
	for _, l := range ls {
		// The depth when the tree was built: a loaded machine may have a
		// link being repaired by now, which is for the end of this test.
		d := depth[l.id]
		heard(t, fmt.Sprintf("listener at depth %d", d), caps[l.id], s1.id, sp1)
		heard(t, fmt.Sprintf("listener at depth %d", d), caps[l.id], s2.id, sp2)
		med, p99 := caps[l.id].transit(s1.id, sp1)
		t.Logf("depth %d: speaker to node median %v, p99 %v", d, med.Round(100*time.Microsecond), p99.Round(100*time.Microsecond))
	}

	// A listener's own audio goes nowhere: its parent drops it.
	liar := ls[len(ls)-1]
	speak(t, ctx, liar, id, audiotest.Speech(400*time.Millisecond, 3))
	for _, l := range ls {
		if n := caps[l.id].count(liar.id.String()); n != 0 {
			t.Fatalf("%s heard %d packets from listener %s", l.id, n, liar.id)
		}
	}

	defer func() { cancel(); wg.Wait() }()
	relayDiesTreeHeals(t, ctx, &wg, byID, ls, caps, id, h, s1, liar)
}

// relayDiesTreeHeals kills the shallowest listener that relays to others
// while s1 speaks (on wg, until ctx ends): every listener below it hears
// s1 again within 4 s.
func relayDiesTreeHeals(t *testing.T, ctx context.Context, wg *sync.WaitGroup, byID map[peer.ID]*member, ls []*member,
	caps map[peer.ID]*capture, id rooms.RoomID, h, s1, liar *member) {
	t.Helper()
	var relay *member
	for _, l := range ls {
		if st, _ := l.rooms.Media(id); len(st.Children) > 0 && (relay == nil ||
			depthOf(t, byID, l, id, h.id) < depthOf(t, byID, relay, id, h.id)) {
			relay = l // the shallowest listener that relays to others
		}
	}
	if relay == nil {
		t.Fatal("no listener relays to others")
	}
	var orphans []*member
	for _, l := range ls {
		if l != relay && isBelow(byID, l, relay, id) {
			orphans = append(orphans, l)
		}
	}
	wg.Add(1)
	go func() { defer wg.Done(); speak(t, ctx, s1, id, audiotest.Speech(6*time.Second, 4)) }()
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, o := range orphans {
			if _, ok := caps[o.id].since(s1.id.String(), time.Now().Add(-100*time.Millisecond)); !ok {
				st, _ := o.rooms.Media(id)
				return fmt.Errorf("%s not hearing yet (liar %v, %d packets, media %+v)", o.id, o == liar, caps[o.id].count(s1.id.String()), st)
			}
		}
		return nil
	})
	killed := time.Now()
	relay.close()
	var worst time.Duration
	testutil.Eventually(t, 4*time.Second, func() error {
		for _, o := range orphans {
			if n := caps[o.id].countSince(s1.id.String(), killed); n < 25 {
				return fmt.Errorf("%s has heard %d packets since its relay died", o.id, n)
			}
		}
		return nil
	})
	for _, o := range orphans {
		worst = max(worst, caps[o.id].longestGap(s1.id.String(), killed.Add(-100*time.Millisecond)))
	}
	t.Logf("relay killed: %d descendants re-parented; longest silence %v", len(orphans), worst.Round(time.Millisecond))
}

// isBelow reports whether m hangs somewhere under relay.
func isBelow(byID map[peer.ID]*member, m, relay *member, room rooms.RoomID) bool {
	for cur, hops := m, 0; cur != nil && hops < len(byID); hops++ {
		st, ok := cur.rooms.Media(room)
		if !ok {
			return false
		}
		if st.Parent == relay.id {
			return true
		}
		cur = byID[st.Parent]
	}
	return false
}

func TestParentRefusesUnassignedChild(t *testing.T) {
	ms := startMembersWith(t, 4, mediaConfig(t, func(int) int { return 1 }, nil))
	h, a, b := ms[0], ms[1], ms[2]
	id := stage(t, ms, h, nil, []*member{a, b})
	// One of a and b relays the other (host capacity 1).
	relay, child := a, b
	if st, _ := b.rooms.Media(id); st.Parent == h.id {
		relay, child = b, a
	}
	outsider := ms[3]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	try := func(from *member, assignment []byte) string {
		_, str, err := linkProto.Open(ctx, from.p2p.Host(), relay.id, linkHello{Assignment: assignment})
		if err == nil {
			str.Close()
			return ""
		}
		if !errors.Is(err, ErrRefused) {
			t.Fatal(err)
		}
		return err.Error()
	}
	// An assignment the outsider signed for itself.
	self, err := rooms.Assign(outsider.key, id, outsider.id, relay.id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e := try(outsider, self.Bytes); e == "" {
		t.Fatal("relay took a child with a self-signed assignment")
	}
	// The host's assignment of someone else, presented by the outsider.
	other, err := rooms.Assign(h.key, id, child.id, relay.id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e := try(outsider, other.Bytes); e == "" {
		t.Fatal("relay took a child presenting another peer's assignment")
	}
	// The host's assignment of this child under another parent.
	elsewhere, err := rooms.Assign(h.key, id, outsider.id, child.id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e := try(outsider, elsewhere.Bytes); e == "" {
		t.Fatal("relay took a child assigned to another parent")
	}
	if e := try(outsider, []byte("garbage")); e == "" {
		t.Fatal("relay took garbage")
	}

	// Backups: a relay named as one takes the child without being its
	// parent, but only with the host's signature, for that child, before
	// the backups expire.
	selfBackup, err := rooms.AssignWithBackups(outsider.key, id, outsider.id, child.id, []peer.ID{relay.id}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e := try(outsider, selfBackup.Bytes); e == "" {
		t.Fatal("relay took a child as a backup with a self-signed assignment")
	}
	stale, err := rooms.AssignWithBackups(h.key, id, outsider.id, child.id, []peer.ID{relay.id},
		time.Now().Add(-2*rooms.BackupLifetime))
	if err != nil {
		t.Fatal(err)
	}
	if e := try(outsider, stale.Bytes); e == "" {
		t.Fatal("relay took a child as a backup after the backups expired")
	}
	backup, err := rooms.AssignWithBackups(h.key, id, outsider.id, child.id, []peer.ID{relay.id}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e := try(child, backup.Bytes); e == "" {
		t.Fatal("relay took a child presenting another peer's backup assignment")
	}
	if e := try(outsider, backup.Bytes); e != "" {
		t.Fatalf("relay refused a child failing over to it as its backup: %s", e)
	}
}

func TestLossyHopStillHeard(t *testing.T) {
	// The host drops 5% of everything it sends: the listener's hop is
	// lossy, and NACK, FEC and concealment have to make up for it.
	ms := startMembersWith(t, 3, mediaConfig(t, func(int) int { return 2 },
		func(i int) func(*interceptor.Registry) error {
			if i != 0 {
				return nil
			}
			return func(r *interceptor.Registry) error {
				r.Add(rtc.DropRandomly(0.05, 7))
				return nil
			}
		}))
	h, s, l := ms[0], ms[1], ms[2]
	id := stage(t, ms, h, []*member{s}, []*member{l})
	c := listen(t, l, id)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sp := speak(t, ctx, s, id, audiotest.Speech(3*time.Second, 5))
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := c.count(s.id.String()); n < 130 {
			return fmt.Errorf("%d packets so far", n)
		}
		return nil
	})
	heard(t, "listener behind 5% loss", c, s.id, sp)
}
