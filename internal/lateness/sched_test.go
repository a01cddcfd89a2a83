package lateness

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
)

func TestPercentileSince(t *testing.T) {
	buckets := []float64{0, 0.001, 0.01, 0.1, 1}
	prev := []uint64{100, 0, 0, 0}
	for _, tc := range []struct {
		name   string
		prev   []uint64
		counts []uint64
		want   time.Duration
	}{
		{"nothing new", prev, []uint64{100, 0, 0, 0}, 0},
		{"only new samples count", prev, []uint64{100, 90, 0, 10}, 100 * time.Millisecond},
		{"the 99th of 100", prev, []uint64{199, 0, 1, 0}, 0},
		{"everything, first reading", nil, []uint64{0, 0, 5, 0}, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentileSince(tc.prev, tc.counts, buckets, 99); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// A process whose goroutines queue for the CPU shows it in Scheduler,
// though no timer of the test's is measured: here ten busy goroutines
// per P, preempted only by the runtime every 10 ms, make each runnable
// goroutine wait for the others' time slices.
func TestSchedulerSeesAStarvedProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	spinners := 10 * runtime.GOMAXPROCS(0)
	for range spinners {
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
			}
		}()
	}
	defer func() {
		cancel()
		for range spinners {
			<-done
		}
	}()
	testutil.Eventually(t, 10*time.Second, func() error {
		if d := Scheduler(); d < 5*time.Millisecond {
			return errors.New("scheduling delay " + d.String())
		}
		return nil
	})
}

func TestSlackLimitsTheSchedulersPart(t *testing.T) {
	if got := Slack(time.Second, 0); got != 2*time.Second {
		t.Fatalf("Slack(1s, 0) = %v, want 2s: own lateness is not limited", got)
	}
	if got := Slack(0, -time.Second); got != 0 {
		t.Fatalf("Slack(0, -1s) = %v, want 0", got)
	}
}
