package audiotest

import (
	"math"
	"slices"
	"time"

	"github.com/clubnode/clubnode/audio"
)

// Tone is d of a sine at freq Hz, 48 kHz mono, at a third of full scale:
// a sound with no pause in it, so that any silence in a recording of it is
// a dropout.
func Tone(freq float64, d time.Duration) []int16 {
	n := int(d.Seconds() * audio.SampleRate)
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Sin(2*math.Pi*freq*float64(i)/audio.SampleRate) * 32767 / 3)
	}
	return out
}

// LongestGap finds the longest silence inside a recording of a sound that
// had none: the longest run of 20 ms frames quieter than a tenth of the
// recording's median loudness, between its first and its last loud frame
// (so the wait before the sound arrives and the tail after it stops do not
// count). It returns the gap and where it starts in the recording.
func LongestGap(pcm []int16) (gap, at time.Duration) {
	const frame = audio.SampleRate / 50
	var rms []float64
	for i := 0; i+frame <= len(pcm); i += frame {
		var sum float64
		for _, s := range pcm[i : i+frame] {
			sum += float64(s) * float64(s)
		}
		rms = append(rms, math.Sqrt(sum/frame))
	}
	if len(rms) == 0 {
		return 0, 0
	}
	loud := slices.Clone(rms)
	slices.Sort(loud)
	// A tenth of the median, and never below the quietest sound a person
	// would hear as sound (about -60 dBFS): a recording of nothing has no
	// loud frames, not one long loud stretch.
	floor := max(loud[len(loud)/2]/10, 32)
	first, last := -1, -1
	if loud[len(loud)-1] < floor {
		return time.Duration(len(rms)) * 20 * time.Millisecond, 0
	}
	for i, v := range rms {
		if v >= floor {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	best, bestAt, run := 0, 0, 0
	for i := first; i >= 0 && i <= last; i++ {
		if rms[i] < floor {
			run++
			if run > best {
				best, bestAt = run, i-run+1
			}
		} else {
			run = 0
		}
	}
	return time.Duration(best) * 20 * time.Millisecond, time.Duration(bestAt) * 20 * time.Millisecond
}
