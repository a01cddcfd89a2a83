package rtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/internal/wire"
	"github.com/pion/rtp"
)

// Bytes written at the root reach a grandchild through a relay, per
// speaker, complete and in order.
func TestChainTwoSpeakers(t *testing.T) {
	api := newTestAPI(t, Config{})
	speakers := []string{"alice", "bob"}
	root := newTestForwarder(t, speakers...)
	relay := newTestForwarder(t, speakers...)
	leaf := newTestForwarder(t, speakers...)
	rootLink := connect(t, api, root, api, relay, ChildOptions{}, ParentOptions{})
	relayLink := connect(t, api, relay, api, leaf, ChildOptions{}, ParentOptions{})
	got := newCollector()
	defer leaf.AddSink(got.sink)()

	srcs := []*source{{speaker: "alice", ssrc: 1}, {speaker: "bob", ssrc: 2}}
	warmUp(t, got, root.Write, srcs...)
	sent := burst(200, 2*time.Millisecond, "burst", root.Write, srcs...)
	for _, s := range speakers {
		testutil.Eventually(t, 5*time.Second, func() error {
			rootLink.up(t)
			relayLink.up(t)
			if n := len(got.withPrefix(s, "burst-")); n < len(sent[s]) {
				return errorf("%s: %d of %d burst packets at the grandchild", s, n, len(sent[s]))
			}
			return nil
		})
		if arrived := got.withPrefix(s, "burst-"); !slices.Equal(arrived, sent[s]) {
			t.Fatalf("%s: arrived out of order or changed:\n got %q\nwant %q", s, arrived, sent[s])
		}
	}
	if st := relay.Stats(); st.DroppedNotSpeaker != 0 || st.DroppedSlowChild != 0 {
		t.Fatalf("relay dropped packets: %+v", st)
	}
}

// A stage change mid-stream adds a speaker's track at the child and stops a
// removed speaker's packets; a non-speaker's packets never leave the first
// hop.
func TestStageChange(t *testing.T) {
	api := newTestAPI(t, Config{})
	root := newTestForwarder(t, "alice")
	child := newTestForwarder(t, "alice", "bob", "carol")
	l := connect(t, api, root, api, child, ChildOptions{}, ParentOptions{})
	got := newCollector()
	defer child.AddSink(got.sink)()

	ctx, stop := context.WithCancel(context.Background())
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		pump(ctx, 5*time.Millisecond, "p", root.Write,
			&source{speaker: "alice", ssrc: 1}, &source{speaker: "bob", ssrc: 2}, &source{speaker: "carol", ssrc: 3})
	}()
	defer func() { stop(); <-pumped }()

	count := func(s string) int { return len(got.payloads(s)) }
	atLeast := func(s string, n int) {
		t.Helper()
		testutil.Eventually(t, 5*time.Second, func() error {
			l.up(t)
			if c := count(s); c < n {
				return errorf("%s: %d packets at the child, want %d", s, c, n)
			}
			return nil
		})
	}
	atLeast("alice", 20)
	if st := root.Stats(); st.DroppedNotSpeaker == 0 {
		t.Fatalf("root forwarded non-speakers: %+v", st)
	}

	root.SetSpeakers([]string{"alice", "bob"})
	atLeast("bob", 20)

	root.SetSpeakers([]string{"bob"})
	// Packets already in flight may still land; once bob has had 20 more,
	// alice must have stopped, and stay stopped for 20 after that.
	atLeast("bob", count("bob")+20)
	aliceAfter := count("alice")
	atLeast("bob", count("bob")+20)
	if n := count("alice"); n != aliceAfter {
		t.Fatalf("alice still arriving after removal: %d then %d", aliceAfter, n)
	}

	// Changes faster than a round trip queue behind the offer in flight;
	// the link settles on the last stage.
	for _, stage := range [][]string{{"alice"}, {}, {"bob"}, {"alice", "bob"}} {
		root.SetSpeakers(stage)
	}
	atLeast("alice", aliceAfter+20)
	atLeast("bob", count("bob")+20)

	if n := count("carol"); n != 0 {
		t.Fatalf("carol (never a speaker at the root) reached the child %d times", n)
	}
	if st := child.Stats(); st.DroppedNotSpeaker != 0 {
		t.Fatalf("child saw packets of non-speakers: %+v", st)
	}
}

// A child's uplink reaches the parent's Uplink callback; the parent
// forwards it as that child's speaker track to a sibling.
func TestUplinkToSibling(t *testing.T) {
	api := newTestAPI(t, Config{})
	host := newTestForwarder(t, "speaker")
	speakerNode := newTestForwarder(t, "speaker")
	sibling := newTestForwarder(t, "speaker")

	var subtree atomic.Int64
	up := NewUplink()
	uplinked := newCollector()
	connect(t, api, host, api, speakerNode, ChildOptions{
		Uplink: func(pkt *rtp.Packet) {
			uplinked.sink("speaker", pkt)
			host.Write("speaker", pkt)
		},
		OnSubtree: func(n int) { subtree.Store(int64(n)) },
	}, ParentOptions{Uplink: up, Subtree: func() int { return 3 }})
	connect(t, api, host, api, sibling, ChildOptions{}, ParentOptions{})
	got := newCollector()
	defer sibling.AddSink(got.sink)()

	src := &source{speaker: "speaker", ssrc: 9}
	write := func(_ string, pkt *rtp.Packet) {
		if err := up.Write(pkt); err != nil {
			t.Error(err)
		}
	}
	warmUp(t, got, write, src)
	sent := burst(100, 2*time.Millisecond, "up", write, src)
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := len(got.withPrefix("speaker", "up-")); n < len(sent["speaker"]) {
			return errorf("%d of %d uplinked packets at the sibling", n, len(sent["speaker"]))
		}
		return nil
	})
	if arrived := got.withPrefix("speaker", "up-"); !slices.Equal(arrived, sent["speaker"]) {
		t.Fatalf("sibling got %q, want %q", arrived, sent["speaker"])
	}
	if n := len(uplinked.withPrefix("speaker", "up-")); n != len(sent["speaker"]) {
		t.Fatalf("parent's Uplink saw %d packets, want %d", n, len(sent["speaker"]))
	}
	if n := subtree.Load(); n != 3 {
		t.Fatalf("OnSubtree saw %d, want 3", n)
	}
}

// One Uplink serves successive parents: after the first link ends, the
// same Uplink passed to a new DialParent reaches the new parent, and writes
// in between are dropped without error.
func TestUplinkSurvivesReparenting(t *testing.T) {
	api := newTestAPI(t, Config{})
	node := newTestForwarder(t)
	up := NewUplink()
	src := &source{speaker: "me", ssrc: 3}
	write := func(_ string, pkt *rtp.Packet) {
		if err := up.Write(pkt); err != nil {
			t.Error(err)
		}
	}
	for round := range 2 {
		parent := newTestForwarder(t)
		got := newCollector()
		l := connect(t, api, parent, api, node, ChildOptions{Uplink: func(pkt *rtp.Packet) { got.sink("me", pkt) }},
			ParentOptions{Uplink: up})
		warmUp(t, got, write, src)
		l.stop()
		if up.track.Load() != nil {
			t.Fatalf("round %d: uplink still bound to a closed link", round)
		}
		if err := up.Write(src.next("between parents")); err != nil {
			t.Fatalf("round %d: write with no parent: %v", round, err)
		}
	}
}

// Every speaker who joins the stage leaves a media section behind on each
// link. Churning through long speaker IDs until the limit keeps every offer
// and answer under the signaling frame limit, then ends the link with
// ErrMediaSectionLimit so the child can reconnect afresh.
func TestMediaSectionLimit(t *testing.T) {
	api := newTestAPI(t, Config{})
	root := newTestForwarder(t)
	child := newTestForwarder(t)
	l := connect(t, api, root, api, child, ChildOptions{}, ParentOptions{})
	stage := func(round int) []string {
		var ids []string
		for i := range maxSpeakers {
			ids = append(ids, fmt.Sprintf("%02d-%02d-%s", round, i, strings.Repeat("x", maxSpeakerIDLen-6)))
		}
		return ids
	}
	got := newCollector()
	defer child.AddSink(got.sink)()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for round := 0; ; round++ {
		ids := stage(round)
		root.SetSpeakers(ids)
		child.SetSpeakers(ids)
		// The round's offer is through once one of its speakers is heard.
		src := &source{speaker: ids[0], ssrc: uint32(round + 1)}
		for len(got.payloads(ids[0])) == 0 {
			root.Write(ids[0], src.next("x"))
			select {
			case <-l.parentDone:
			case <-l.childDone: // the parent closed the stream: its result follows
				<-l.parentDone
			case <-tick.C:
				continue
			}
			if !errors.Is(l.parentErr, ErrMediaSectionLimit) {
				t.Fatalf("round %d: ServeChild returned %v, want ErrMediaSectionLimit", round, l.parentErr)
			}
			if want := (maxMediaSections - 1) / maxSpeakers; round != want {
				t.Fatalf("limit hit in round %d, want %d", round, want)
			}
			return
		}
	}
}

// The link's reader records heartbeats and answers probes while its loop
// is busy (applying an offer can take a starved machine a second): the
// offers and candidates it hands over wait in a queue, not in the reader.
// Here nobody runs the loop, and a heartbeat behind a few trickled
// candidates must still be heard.
func TestReaderHearsHeartbeatsBehindABusyLoop(t *testing.T) {
	l, b := newPipeLink(t, newTestAPI(t, Config{}))
	l.spawn(func() { l.readLoop(nil) })
	go io.Copy(io.Discard, b) //nolint:errcheck // ends when b closes
	before := l.lastHeard.Load()
	var frames []signalFrame
	for i := range 4 {
		frames = append(frames, signalFrame{Kind: kindCandidate,
			Candidate: fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host", i, 10000+i)})
	}
	frames = append(frames, signalFrame{Kind: kindHeartbeat, Subtree: 1})
	go func() {
		for _, m := range frames {
			if err := wire.WriteFrame(b, m); err != nil {
				return
			}
		}
	}()
	testutil.Eventually(t, 5*time.Second, func() error {
		select {
		case err := <-l.failed:
			t.Fatalf("the reader failed: %v", err)
		default:
		}
		if l.lastHeard.Load() == before {
			return errors.New("the heartbeat behind the candidates was not read")
		}
		return nil
	})
}

// newPipeLink is a trickling parent-role link whose signaling stream is
// one end of a pipe; it returns the other end. Both close when the test
// ends.
func newPipeLink(t *testing.T, api *API) (*link, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { b.Close() })
	l, err := newLink(context.Background(), api, a, RoleParent, LinkLabel{}, true, turnAsk{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	return l, b
}

// A connected link's check sleeps until its peer's silence would be due,
// not a quarter timeout: a heartbeat every 500 ms and a 1.5 s timeout
// wake it about once a second instead of four times, and once the
// silence is due it looks every quarter timeout until it lets go.
func TestNextLifeCheckWaitsForTheSilenceDue(t *testing.T) {
	now := time.Unix(1000, 0)
	const timeout, every = 1500 * time.Millisecond, 375 * time.Millisecond
	for _, tc := range []struct {
		name string
		ago  time.Duration // since the last sign of life
		want time.Duration
	}{
		{"heard just now", 0, timeout},
		{"heard 500 ms ago", 500 * time.Millisecond, time.Second},
		{"silence due in 100 ms", 1400 * time.Millisecond, every},
		{"silence past due", 2 * time.Second, every},
		{"a clock that went back", -time.Hour, timeout},
	} {
		if got := nextLifeCheck(now, now.Add(-tc.ago), every, timeout); got != tc.want {
			t.Errorf("%s: next check in %s, want %s", tc.name, got, tc.want)
		}
	}
}
