package roomnet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/audio/mediasig"
	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// What a malicious relay does to the audio it forwards to its children.
const (
	relayHonest int32 = iota
	relayAlter        // flips a bit of every Opus payload
	relayInject       // replaces every payload with audio of its own, signature trailers kept
	relayReplay       // sends the packet from 40 before in the place of each
)

// maliciousRelay replaces a real node's forwarding: its own session still
// receives and plays the speaker, but its children are served from a
// forwarder the test fills with what the relay chooses to send.
type maliciousRelay struct {
	mode    atomic.Int32
	down    *rtc.Forwarder
	enc     *audio.Encoder
	mu      sync.Mutex
	history []*rtp.Packet
	sent    atomic.Uint64 // packets changed or added
}

func installMaliciousRelay(t *testing.T, m *member, room rooms.RoomID, speakers []string) *maliciousRelay {
	t.Helper()
	ms, ok := m.rooms.media.session(room)
	if !ok {
		t.Fatal("relay has no media session")
	}
	enc, err := audio.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	r := &maliciousRelay{down: rtc.NewForwarder(logger()), enc: enc}
	t.Cleanup(r.down.Close)
	r.down.SetSpeakers(speakers)
	ms.mu.Lock()
	ms.down = r.down
	ms.mu.Unlock()
	t.Cleanup(ms.fwd.AddSink(r.forward))
	return r
}

var toneFrames = func() [][]byte {
	enc, err := audio.NewEncoder()
	if err != nil {
		panic(err)
	}
	pcm := audiotest.Tone(440, time.Second)
	var out [][]byte
	for off := 0; off+audio.FrameSamples <= len(pcm); off += audio.FrameSamples {
		p, err := enc.Encode(pcm[off : off+audio.FrameSamples])
		if err != nil {
			panic(err)
		}
		out = append(out, p)
	}
	return out
}()

func (r *maliciousRelay) forward(speaker string, pkt *rtp.Packet) {
	out := pkt.Clone()
	media, err := mediasig.StripTrailer(pkt.Payload)
	trailer := pkt.Payload[len(media):]
	// Kept in every mode, so that a replay starts with the first packet.
	r.mu.Lock()
	r.history = append(r.history, pkt)
	var old *rtp.Packet
	if len(r.history) > 40 {
		old = r.history[len(r.history)-41]
		r.history = r.history[1:]
	}
	r.mu.Unlock()
	switch r.mode.Load() {
	case relayAlter:
		if err == nil && len(media) > 2 {
			out.Payload[len(media)/2] ^= 0x10
			r.sent.Add(1)
		}
	case relayInject:
		if err == nil {
			own := toneFrames[int(pkt.SequenceNumber)%len(toneFrames)]
			out.Payload = append(slices.Clone(own), trailer...)
			r.sent.Add(1)
		}
	case relayReplay:
		// Old speech in the place of the new: the packet from 40 before
		// under the current packet's number, which the hop's SRTP takes
		// (a relay that resent it under its own number would be stopped
		// by SRTP's replay window already).
		if old != nil {
			out.Payload = slices.Clone(old.Payload)
			out.Timestamp, out.Marker = old.Timestamp, old.Marker
			r.sent.Add(1)
		}
	}
	r.down.Write(speaker, out)
}

// rawListen records what reaches m's forwarder before verification: what
// a node without the signature check played.
func rawListen(t *testing.T, m *member, room rooms.RoomID) *capture {
	t.Helper()
	ms, ok := m.rooms.media.session(room)
	if !ok {
		t.Fatal("no media session")
	}
	c := &capture{packets: map[string][]arrival{}}
	t.Cleanup(ms.fwd.AddSink(func(speaker string, pkt *rtp.Packet) {
		p := pkt.Clone()
		if media, err := mediasig.StripTrailer(p.Payload); err == nil {
			p.Payload = media
		}
		c.mu.Lock()
		c.packets[speaker] = append(c.packets[speaker], arrival{p, time.Now()})
		c.mu.Unlock()
	}))
	return c
}

// heardTail is heard for a listener that missed the start of sp's speech
// (while it moved): what it got matches the rest.
func heardTail(t *testing.T, who string, c *capture, speakerID peer.ID, sp *speaker) {
	t.Helper()
	got, lost := c.content(t, speakerID.String())
	if got == nil {
		t.Fatalf("%s heard nothing from %s", who, speakerID)
	}
	// Match takes the second signal as the later one: here the speech
	// started before what was heard of it.
	corr, _ := audiotest.Match(got, sp.pcm, 6*time.Second)
	if corr < audiotest.MatchThreshold {
		t.Fatalf("%s: %s's audio matches only %.2f (threshold %.2f); %d frames missing",
			who, speakerID, corr, audiotest.MatchThreshold, lost)
	}
}

// after is the part of c that arrived after t0.
func (c *capture) after(t0 time.Time) *capture {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &capture{packets: map[string][]arrival{}}
	for sp, arr := range c.packets {
		for _, a := range arr {
			if a.at.After(t0) {
				out.packets[sp] = append(out.packets[sp], a)
			}
		}
	}
	return out
}

// foreign counts the packets in c that the speaker did not send (compared
// with what the host, one hop from the speaker, received), and the
// sequence numbers played more than once.
func foreign(c, truth *capture, speaker string) (altered, repeated int) {
	truth.mu.Lock()
	orig := map[uint16]string{}
	for _, a := range truth.packets[speaker] {
		orig[a.pkt.SequenceNumber] = string(a.pkt.Payload)
	}
	truth.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[uint16]bool{}
	for _, a := range c.packets[speaker] {
		if o, ok := orig[a.pkt.SequenceNumber]; !ok || o != string(a.pkt.Payload) {
			altered++
		}
		if seen[a.pkt.SequenceNumber] {
			repeated++
		}
		seen[a.pkt.SequenceNumber] = true
	}
	return altered, repeated
}

// patientMedia is mediaConfig with a link timeout that a loaded machine
// does not trip: these tests are about who plays what, not repair times.
func patientMedia(t *testing.T, caps []int) func(int, *Config) {
	base := mediaConfig(t, func(i int) int { return caps[i] }, nil)
	return func(i int, c *Config) {
		base(i, c)
		c.MediaTimeout = 3 * time.Second
	}
}

func TestMaliciousRelayAltersAudio(t *testing.T)  { testMaliciousRelay(t, relayAlter) }
func TestMaliciousRelayInjectsAudio(t *testing.T) { testMaliciousRelay(t, relayInject) }
func TestMaliciousRelayReplaysAudio(t *testing.T) { testMaliciousRelay(t, relayReplay) }

// attackRoom is a room with a malicious relay r and an honest one b under
// the host, and the listeners under r (the victims).
type attackRoom struct {
	id          rooms.RoomID
	h, s, r, b  *member
	victims     []*member
	evil        *maliciousRelay
	truth       *capture // what the speaker sent: its hop to the host is SRTP
	played, raw map[*member]*capture
}

// newAttackRoom: host h (capacity 3), speaker s, two relays (capacity 3)
// under the host and three listeners, so that one relay has at least two
// children: that one turns malicious, and its children are the victims.
// Two, because the host blames a relay only on more than one child's word.
func newAttackRoom(t *testing.T, ctx context.Context) *attackRoom {
	caps := []int{3, 0, 3, 3, 0, 0, 0}
	ms := startMembersWith(t, len(caps), patientMedia(t, caps))
	a := &attackRoom{h: ms[0], s: ms[1], played: map[*member]*capture{}, raw: map[*member]*capture{}}
	relays, ls := ms[2:4], ms[4:]
	a.id = stage(t, ms, a.h, []*member{a.s}, relays)
	// Both relays forward through the test; the one that gets two
	// children turns malicious, the other stays honest.
	stageIDs := []string{a.h.id.String(), a.s.id.String()}
	tampers := map[*member]*maliciousRelay{}
	for _, r := range relays {
		tampers[r] = installMaliciousRelay(t, r, a.id, stageIDs)
	}
	for _, l := range ls {
		sees(t, l, a.id, true)
		if _, err := l.rooms.Request(ctx, a.id, rooms.KindJoin, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		under := map[peer.ID][]*member{}
		for _, l := range ls {
			st, ok := l.rooms.Media(a.id)
			if !ok || st.Parent == "" {
				return fmt.Errorf("%s has no parent yet", l.id)
			}
			under[st.Parent] = append(under[st.Parent], l)
		}
		for i, rl := range relays {
			if len(under[rl.id]) >= 2 {
				a.r, a.b, a.victims = rl, relays[1-i], under[rl.id]
				return nil
			}
		}
		return fmt.Errorf("no relay with two listeners under it")
	})
	a.evil = tampers[a.r]
	a.truth = rawListen(t, a.h, a.id)
	for _, m := range append([]*member{a.r, a.b}, ls...) {
		a.played[m] = listen(t, m, a.id)
		a.raw[m] = rawListen(t, m, a.id)
	}
	return a
}

// testMaliciousRelay: what r changes, injects or replays is played by
// nobody, and nothing twice; r's listeners report it, the host blames it
// (and not b), and they hear the speaker again through b. The raw
// captures show that the attack reached them, and that a node without
// the check would have played it.
func testMaliciousRelay(t *testing.T, mode int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a := newAttackRoom(t, ctx)
	sid := a.s.id.String()
	// Honest at first: the victims hear the speaker through r, to the
	// last packet (its tail signed after the speech stops), before the
	// attack starts.
	speak(t, ctx, a.s, a.id, audiotest.Speech(time.Second, 1))
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, v := range a.victims {
			if err := a.played[v].settled(sid, 40); err != nil {
				return fmt.Errorf("%s, through the honest relay: %w", v.id, err)
			}
		}
		return nil
	})

	a.evil.mode.Store(mode)
	attack := time.Now()
	var wg sync.WaitGroup
	var sp *speaker
	wg.Add(1)
	go func() { defer wg.Done(); sp = speak(t, ctx, a.s, a.id, audiotest.Speech(8*time.Second, 2)) }()
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, v := range a.victims {
			if st, _ := v.rooms.Media(a.id); st.Parent == a.r.id || st.Parent == "" {
				return fmt.Errorf("%s still under the malicious relay (%q)", v.id, st.Parent)
			}
			if n := a.played[v].countSince(sid, attack.Add(time.Second)); n < 25 {
				return fmt.Errorf("%s played %d packets since it moved", v.id, n)
			}
		}
		return nil
	})
	t.Logf("the victims moved and heard the speaker again %s after the attack began", time.Since(attack).Round(10*time.Millisecond))
	wg.Wait()
	a.nothingBadPlayed(t)
	for _, v := range a.victims {
		heardTail(t, "listener moved off the malicious relay", a.played[v].after(attack), a.s.id, sp)
		g := mustMedia(t, v, a.id).Guard
		refused := g.BadSignature + g.BadPacket + g.Conflict + g.Malformed
		if mode == relayReplay {
			refused = g.Starved
		}
		if refused == 0 {
			t.Errorf("%s counts no refusal of the attack: %+v", v.id, g)
		}
	}
	blamed, honestBlamed := distrusted(a.h, a.id, a.r.id), distrusted(a.h, a.id, a.b.id)
	if !blamed || honestBlamed {
		t.Fatalf("host blames the malicious relay: %v, the honest one: %v", blamed, honestBlamed)
	}
}

// nothingBadPlayed: the relay did attack, its bad packets reached
// listeners, and none was played, nor anything twice.
func (a *attackRoom) nothingBadPlayed(t *testing.T) {
	t.Helper()
	sid := a.s.id.String()
	if a.evil.sent.Load() == 0 {
		t.Fatal("the malicious relay changed nothing")
	}
	reached := 0
	for m, c := range a.played {
		altered, repeated := foreign(c, a.truth, sid)
		if altered != 0 || repeated != 0 {
			t.Errorf("%s played %d packets its speaker did not send and %d twice", m.id, altered, repeated)
		}
		bad, rep := foreign(a.raw[m], a.truth, sid)
		reached += bad + rep
	}
	if reached == 0 {
		t.Fatal("no bad packet reached a listener: the test proves nothing")
	}
	t.Logf("%d bad packets reached listeners; none played", reached)
}

func mustMedia(t *testing.T, m *member, id rooms.RoomID) MediaStats {
	t.Helper()
	st, ok := m.rooms.Media(id)
	if !ok {
		t.Fatalf("%s has no audio in %s", m.id, id)
	}
	return st
}

// distrusted says whether host h blamed relay p for changing audio.
func distrusted(h *member, id rooms.RoomID, p peer.ID) bool {
	hs, ok := h.rooms.media.session(id)
	if !ok {
		return false
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.distrusted[p]
}

// TestLyingChildCannotDemoteItsParent: a child that reports its honest
// parent (the report is made up: nothing was wrong with the audio) is
// told to move, but the host does not blame the parent, which keeps its
// other child and its place. A second child's word, within accusedFor,
// does blame it: the quorum. On the old code the first report alone
// demoted the parent.
func TestLyingChildCannotDemoteItsParent(t *testing.T) {
	caps := []int{1, 2, 0, 0}
	ms := startMembersWith(t, len(caps), patientMedia(t, caps))
	h, p, liar, other := ms[0], ms[1], ms[2], ms[3]
	id := stage(t, ms, h, nil, []*member{p}) // p alone under the host, which has room for one
	for _, c := range []*member{liar, other} {
		sees(t, c, id, true)
		mustRequest(t, c, id, rooms.KindJoin, nil)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, c := range []*member{liar, other} {
			if st, _ := c.rooms.Media(id); st.Parent != p.id {
				return fmt.Errorf("%s hangs under %q, not the relay", c.id, st.Parent)
			}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accuse := func(from *member) tamperVerdict {
		v, err := reportProto.Call(ctx, from.p2p.MemberHost(), h.id, tamperReport{Room: string(id),
			Parent: []byte(p.id), Speaker: []byte(h.id), Kind: uint8(mediasig.BadSignature)})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := accuse(liar); v.Blamed || !v.Move {
		t.Fatalf("one child's report: %+v, want the child to move and the relay not blamed", v)
	}
	if distrusted(h, id, p.id) {
		t.Fatal("the host blamed an honest relay on one child's word")
	}
	if st := mustMedia(t, other, id); st.Parent != p.id {
		t.Fatalf("the other child moved off the honest relay, to %q", st.Parent)
	}
	if v := accuse(other); !v.Blamed || !distrusted(h, id, p.id) {
		t.Fatalf("two children's reports: %+v, want the relay blamed", v)
	}
}
