package audio

import (
	"context"
	"time"
)

// MaxCatchUp is how far EveryFrame lets its caller fall behind the clock
// and still make up the frames it missed: beyond it (a machine that was
// suspended, a process stopped for seconds) the missed frames are dropped
// and the clock starts again from now. A listener's jitter buffer keeps at
// most a second of backlog too (Receiver).
const MaxCatchUp = time.Second

// EveryFrame calls frame once for every FrameDuration of wall-clock time
// until ctx ends, done is closed (nil: never), or frame returns an error,
// which it returns. now is the time of the call, on the clock Receiver
// and Mixer take.
//
// Frame k is due k frames after the first call. A caller that is late (a
// busy machine that did not run it for a while) gets the frames it missed
// at once, so over time the number of frames matches the time that
// passed: audio produced or consumed in real time keeps pace with the
// clock of whoever is at the other end. A time.Ticker drops the ticks a
// slow receiver misses, so a speaker paced by one falls behind for good
// and a recorder paced by one leaves out what it missed.
func EveryFrame(ctx context.Context, done <-chan struct{}, frame func(now time.Time) error) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * FrameDuration)
		now := time.Now()
		if wait := due.Sub(now); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-done:
				return nil
			case now = <-timer.C:
			}
		} else if -wait > MaxCatchUp {
			start, k = now, 0
		}
		// Also when the timer was ready too, or no wait was needed.
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			return nil
		default:
		}
		if err := frame(now); err != nil {
			return err
		}
	}
}
