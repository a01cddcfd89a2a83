package roomnet

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// BenchmarkPlaceExchange: one place request from a listener to the host
// over a real libp2p connection on loopback, as the listener's node makes
// it (a new stream, the request, the host's placement and signature, the
// reply, its check). Both ends run in this process: cpu-us/op is the
// process's CPU per exchange, both sides, less what the two idle nodes
// use meanwhile; the host's share is about half. cmd/clubsim uses it for
// the transport's cost per control message.
//
//	go test ./rooms/roomnet -run '^$' -bench PlaceExchange -benchtime 2000x
func BenchmarkPlaceExchange(b *testing.B) {
	ms := startMembersWith(b, 2, mediaConfig(b, func(int) int { return 2 }, nil))
	h, l := ms[0], ms[1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := h.rooms.Create(ctx, "Bench", rooms.TypeOpen, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	id := st.Room
	sees(b, l, id, true)
	if _, err := l.rooms.Request(ctx, id, rooms.KindJoin, "", nil); err != nil {
		b.Fatal(err)
	}
	testutil.Eventually(b, 10*time.Second, func() error {
		if st, ok := l.rooms.Media(id); !ok || st.Parent != h.id {
			return fmt.Errorf("listener has no parent yet")
		}
		return nil
	})
	session, ok := l.rooms.media.session(id)
	if !ok {
		b.Fatal("no media session")
	}
	state, _ := l.rooms.State(id)
	idle := cpuOver(time.Second, nil) // the two nodes' own background per second
	var n int
	var wall time.Duration
	used := cpuOver(0, func() {
		start := time.Now()
		for b.Loop() {
			if _, err := session.askParent(ctx, state, "", ""); err != nil {
				b.Fatal(err)
			}
			n++
		}
		wall = time.Since(start)
	})
	perOp := (used - time.Duration(float64(idle)*wall.Seconds())) / time.Duration(max(n, 1))
	b.ReportMetric(float64(perOp.Microseconds()), "cpu-us/op")
}

// cpuOver is the process's CPU time while fn runs, or over d when fn is nil.
func cpuOver(d time.Duration, fn func()) time.Duration {
	before := processCPU()
	if fn == nil {
		time.Sleep(d) // measuring the idle nodes over a fixed time, not waiting for an event
	} else {
		fn()
	}
	return processCPU() - before
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
