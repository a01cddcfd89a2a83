package audio_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio"
)

// TestEveryFrameMakesUpForAStall: a caller held up for a while gets the
// frames it missed at once, so over the run there is one frame per 20 ms
// of time, and none comes before its time. A time.Ticker drops the missed
// ticks, and the same run takes the stall longer.
func TestEveryFrameMakesUpForAStall(t *testing.T) {
	const frames, stallAt, stall = 40, 5, 400 * time.Millisecond
	stop := errors.New("enough")
	var at []time.Time
	start := time.Now()
	err := audio.EveryFrame(context.Background(), nil, func(now time.Time) error {
		at = append(at, now)
		if len(at) == stallAt {
			time.Sleep(stall) // the machine is busy elsewhere
		}
		if len(at) > frames {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("EveryFrame returned %v, want the frame's error", err)
	}
	for k, now := range at {
		if due := start.Add(time.Duration(k) * audio.FrameDuration); now.Before(due.Add(-time.Millisecond)) {
			t.Errorf("frame %d came %s before its time", k, due.Sub(now))
		}
	}
	// Paced by a ticker the run would take frames×20 ms plus the stall;
	// made up, it takes frames×20 ms plus however late the last frame is.
	if took, ticker := at[frames].Sub(start), frames*audio.FrameDuration+stall; took >= ticker {
		t.Errorf("%d frames with a %s stall took %s, as long as a ticker's %s: the missed frames were not made up", frames, stall, took, ticker)
	}
}

// TestEveryFrameStops: EveryFrame returns nil when its context ends or
// done is closed.
func TestEveryFrameStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	if err := audio.EveryFrame(ctx, nil, func(time.Time) error {
		if calls++; calls == 3 {
			cancel()
		}
		return nil
	}); err != nil || calls != 3 {
		t.Errorf("cancelled context: %v after %d calls, want nil after 3", err, calls)
	}
	done := make(chan struct{})
	calls = 0
	if err := audio.EveryFrame(context.Background(), done, func(time.Time) error {
		if calls++; calls == 2 {
			close(done)
		}
		return nil
	}); err != nil || calls != 2 {
		t.Errorf("closed done: %v after %d calls, want nil after 2", err, calls)
	}
}
