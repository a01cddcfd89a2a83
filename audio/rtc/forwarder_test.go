package rtc

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/pion/rtp"
)

func TestForwarderStageAndSinks(t *testing.T) {
	f := newTestForwarder(t)
	f.SetSpeakers([]string{"bob", "alice", "bad id", "", "alice"})
	if got := f.speakers(); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("stage %q, want alice and bob (invalid IDs skipped, sorted, deduplicated)", got)
	}
	got := newCollector()
	remove := f.AddSink(got.sink)
	pkt := &rtp.Packet{Payload: []byte("x")}
	f.Write("alice", pkt)
	f.Write("carol", pkt)
	remove()
	remove() // idempotent
	f.Write("bob", pkt)
	if n := len(got.payloads("alice")); n != 1 {
		t.Fatalf("sink got %d alice packets, want 1", n)
	}
	if n := len(got.payloads("carol")) + len(got.payloads("bob")); n != 0 {
		t.Fatalf("sink got %d packets it should not have", n)
	}
	want := ForwarderStats{PacketsIn: 2, DroppedNotSpeaker: 1}
	if st := f.Stats(); st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}

	f.Close()
	f.Write("alice", pkt)
	if st := f.Stats(); st.DroppedNotSpeaker != 2 {
		t.Fatalf("write after Close was not dropped: %+v", st)
	}
	select {
	case <-f.Done():
	default:
		t.Fatal("Done not closed by Close")
	}
}

// Write returns at once even when a child link drains nothing: its queue
// fills and the rest is dropped and counted, other children unaffected.
func TestForwarderDropsForSlowChild(t *testing.T) {
	f := newTestForwarder(t, "alice")
	stuck := f.attach()
	defer f.detach(stuck)
	live := f.attach()
	defer f.detach(live)
	received := 0
	for i := range 1000 {
		f.Write("alice", &rtp.Packet{Payload: []byte(fmt.Sprint(i))})
		<-live.queue
		received++
	}
	st := f.Stats()
	if st.DroppedSlowChild != 1000-outletQueue || st.Forwarded != 1000+outletQueue || st.Children != 2 {
		t.Fatalf("stats %+v: want %d dropped for the stuck child, %d forwarded, 2 children",
			st, 1000-outletQueue, 1000+outletQueue)
	}
	if received != 1000 {
		t.Fatalf("live child got %d of 1000", received)
	}
}

func TestSetSpeakersPokesLinksOnlyOnChange(t *testing.T) {
	f := newTestForwarder(t, "alice")
	o := f.attach()
	defer f.detach(o)
	f.SetSpeakers([]string{"alice"})
	select {
	case <-o.changed:
		t.Fatal("same stage poked the link")
	default:
	}
	f.SetSpeakers([]string{"alice", "bob"})
	f.SetSpeakers([]string{"bob"})
	<-o.changed // both changes coalesce into one poke
	select {
	case <-o.changed:
		t.Fatal("two changes poked twice; the link should read the latest stage once")
	default:
	}
	var ids []string
	for i := range maxSpeakers + 5 {
		ids = append(ids, fmt.Sprintf("s%02d", i))
	}
	f.SetSpeakers(ids)
	if n := len(f.speakers()); n != maxSpeakers {
		t.Fatalf("stage of %d, want it capped at %d", n, maxSpeakers)
	}
}

// BenchmarkForwarderFanOut is rtc's own share of forwarding: Write queueing
// one packet for N child links whose writer goroutines drain it (no
// WebRTC). Writes go in batches of half a queue, and the clock stops while
// the queues drain, so every packet is queued, none dropped.
// BenchmarkForwarderWrite measures the whole relay path.
func BenchmarkForwarderFanOut(b *testing.B) {
	for _, children := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("children=%d", children), func(b *testing.B) {
			f := newTestForwarder(b, "alice")
			done := make(chan struct{})
			var drained sync.WaitGroup
			var outlets []*outlet
			for range children {
				o := f.attach()
				outlets = append(outlets, o)
				drained.Add(1)
				go func() {
					defer drained.Done()
					for {
						select {
						case <-o.queue:
						case <-done:
							return
						}
					}
				}()
			}
			pkt := &rtp.Packet{Payload: make([]byte, 80)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.Write("alice", pkt)
				if i%(outletQueue/2) == 0 {
					b.StopTimer()
					for _, o := range outlets {
						for len(o.queue) > 0 {
							runtime.Gosched()
						}
					}
					b.StartTimer()
				}
			}
			b.StopTimer()
			close(done)
			drained.Wait()
			st := f.Stats()
			b.ReportMetric(float64(st.DroppedSlowChild)/float64(b.N*children)*100, "%dropped")
		})
	}
}
