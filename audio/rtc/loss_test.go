package rtc

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
)

// With 5% of the parent's outgoing RTP dropped, NACK brings back almost
// everything. The residual loss is logged; the bound is loose because a
// repair can itself be dropped and the tail of the stream has no later
// packet to reveal a gap.
func TestNACKRepairsLoss(t *testing.T) {
	const (
		rate    = 0.05
		packets = 600
		tail    = 50 // after the counted packets, so their gaps get noticed
	)
	loss := DropRandomly(rate, 1).(*lossFactory)
	lossyAPI := newTestAPI(t, Config{Interceptors: func(r *interceptor.Registry) error {
		r.Add(loss)
		return nil
	}})
	api := newTestAPI(t, Config{})
	root := newTestForwarder(t, "alice")
	child := newTestForwarder(t, "alice")
	l := connect(t, lossyAPI, root, api, child, ChildOptions{}, ParentOptions{})
	got := newCollector()
	defer child.AddSink(got.sink)()

	src := &source{speaker: "alice", ssrc: 5}
	warmUp(t, got, root.Write, src)
	droppedBefore := loss.dropped.Load()
	sent := burst(packets, 3*time.Millisecond, "n", root.Write, src)["alice"]
	burst(tail, 3*time.Millisecond, "tail", root.Write, src)
	// Give the last repairs one NACK interval and round trip to land, then
	// count what is still missing.
	deadline := time.Now().Add(2 * time.Second)
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	var missing int
	for {
		arrived := map[string]bool{}
		for _, p := range got.withPrefix("alice", "n-") {
			arrived[p] = true
		}
		missing = 0
		for _, p := range sent {
			if !arrived[p] {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		<-poll.C
	}
	// Repaired packets arrive after their successors.
	late, newest := 0, ""
	for _, p := range got.withPrefix("alice", "n-") {
		if p < newest {
			late++
		}
		newest = max(newest, p)
	}
	l.up(t)
	dropped := loss.dropped.Load() - droppedBefore
	residual := float64(missing) / packets
	t.Logf("dropped %d packets on the wire (repairs included) for %d sent; %d arrived late (repaired); "+
		"%d still missing: residual loss %.2f%% (from %.0f%%)",
		dropped, packets+tail, late, missing, 100*residual, 100*rate)
	if dropped == 0 {
		t.Fatal("the loss injector dropped nothing")
	}
	if late == 0 {
		t.Fatal("no packet arrived late: nothing was repaired")
	}
	if residual > rate/5 {
		t.Fatalf("residual loss %.2f%%: NACK repaired less than 80%% of %.0f%% loss", 100*residual, 100*rate)
	}
}
