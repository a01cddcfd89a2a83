package audiotest

import (
	"math"
	"time"

	"github.com/clubnode/clubnode/audio"
)

// MatchThreshold is the Match correlation at or above which got is taken
// to carry sent.
//
// Measured by TestMatchThreshold (6 seeds of 5 s of Speech, lags searched
// up to 2 s, libopus 1.3.1), lowest of the true matches:
//
//	Encoder -> Decoder                                   0.991
//	5 % random loss, 20 ms jitter, Receiver (FEC/PLC)    0.991
//	15 % random loss, 20 ms jitter, Receiver             0.983
//	timeline skips a frame once / twice (jitter buffer)  0.984 / 0.938
//
// and highest of the negative controls:
//
//	another seed's speech via the codec, 5 s / 3 s       0.453 / 0.497
//	another seed's speech via the codec, 2 s against 5 s 0.609
//	white noise at speech level                          0.186
//	silence                                              0.000
//
// 0.8 sits 0.14 below the weakest true match and 0.19 above the strongest
// control. Compare at least 2 s of speech: a 1 s clip (four syllables)
// matched another seed's speech at up to 0.74 by chance, too close for
// comfort. Through Chromium's fake microphone and the web app to a
// `clubnode listen` on a third node (TestWebUITwoNodes), Speech matched
// 0.90-0.999 with the browser's voice processing off and 0.99 with it on;
// a steady tone burst instead of Speech dropped to about 0.67 with it on
// (noise suppression takes a steady tone for noise).
const MatchThreshold = 0.8

// Envelope returns the RMS of pcm over consecutive windows of the given
// length, as a fraction of full scale (0..1). A last window shorter than
// window is left out.
func Envelope(pcm []int16, window time.Duration) []float64 {
	w := samples(window)
	if w <= 0 {
		return nil
	}
	env := make([]float64, len(pcm)/w)
	for i := range env {
		env[i] = rms(pcm[i*w : (i+1)*w])
	}
	return env
}

func rms(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, v := range pcm {
		f := float64(v)
		sum += f * f
	}
	return math.Sqrt(sum/float64(len(pcm))) / 32768
}

func samples(d time.Duration) int {
	return int(d * audio.SampleRate / time.Second)
}

const (
	envWindow = 10 * time.Millisecond
	// lagStep is how finely Match searches lags: a quarter window, so a
	// lag that falls between window boundaries (Opus alone delays by
	// 6.5 ms) still finds windows lined up within 1.25 ms.
	lagStep = envWindow / 4
	// minOverlapWindows and maxOverlapWindows bound how much of the two
	// envelopes must overlap at a lag for it to count: half the shorter
	// signal, but at least 0.1 s and never more than 1 s required. A few
	// windows correlate well with anything by chance.
	minOverlapWindows = 10
	maxOverlapWindows = 100

	// segmentWindows and driftSteps let Match follow a timeline that
	// slips: after the best single lag is found, the envelope is matched
	// again one second at a time, each second's lag free to move up to
	// 20 ms from the previous one's. A jitter buffer skips or inserts a
	// 20 ms frame when it resynchronises; two such slips in five seconds
	// bring the single-lag correlation of a perfect copy down to 0.79.
	segmentWindows = 100
	driftSteps     = 8
	// shortSegment: a last segment shorter than this keeps the previous
	// lag; too few windows to place reliably.
	shortSegment = 20
)

// Match compares what arrived (got) with what was sent by their 10 ms RMS
// envelopes. For each lag from 0 to maxLag (got later than sent), in steps
// of 2.5 ms, it computes the Pearson correlation of the two envelopes where
// they overlap; the best lag is returned with the best correlation. got
// may be longer or shorter than sent (a listener that joined late, a
// recording that ran on); only the overlap counts, and a lag whose overlap
// is under half the shorter signal (at least 0.1 s, at most 1 s) is not
// considered. Silence in either signal correlates 0.
//
// The correlation also tolerates a timeline that slips, as a jitter
// buffer's does when it skips or inserts frames: starting from the best
// lag, the envelopes are lined up again second by second, each second's
// lag within 20 ms of the previous second's, and if the envelopes so
// aligned correlate better, that correlation is returned (with the lag
// still the single best one, where the audio started).
//
// Envelopes rather than waveforms: codecs, concealment, resampling and
// mixing change the waveform's fine structure and phase while keeping its
// syllables, which is what a listener hears.
func Match(sent, got []int16, maxLag time.Duration) (corr float64, lag time.Duration) {
	win := samples(envWindow)
	step := samples(lagStep)
	sentEnv := Envelope(sent, envWindow)
	if len(sentEnv) == 0 || len(got) < win {
		return 0, 0
	}
	// got's envelope on a finer grid: window j starts at sample j*step.
	fine := make([]float64, (len(got)-win)/step+1)
	for j := range fine {
		fine[j] = rms(got[j*step : j*step+win])
	}
	perWin := win / step
	gotWindows := len(got) / win
	need := min(len(sentEnv), gotWindows) / 2
	need = max(minOverlapWindows, min(maxOverlapWindows, need))
	best, bestLag := 0.0, 0
	maxL := max(0, samples(maxLag)/step)
	g := make([]float64, 0, len(sentEnv))
	for l := 0; l <= maxL && l < len(fine); l++ {
		g = g[:0]
		for k := 0; k < len(sentEnv) && l+k*perWin < len(fine); k++ {
			g = append(g, fine[l+k*perWin])
		}
		if len(g) < need {
			break // the overlap only shrinks with larger lags
		}
		if c := pearson(sentEnv[:len(g)], g); c > best {
			best, bestLag = c, l
		}
	}
	if best > 0 {
		best = max(best, followTimeline(sentEnv, fine, perWin, bestLag, need))
	}
	return best, time.Duration(bestLag*step) * time.Second / audio.SampleRate
}

// followTimeline lines sent's envelope up with got's fine envelope one
// segment at a time, starting at lag (in fine steps), each segment's lag
// within driftSteps of the previous one's, and returns the correlation of
// the envelopes so aligned (0 if they overlap less than need windows).
func followTimeline(sentEnv, fine []float64, perWin, lag, need int) float64 {
	var a, b []float64
	seg := make([]float64, 0, segmentWindows)
	offset := 0
	for s0 := 0; s0 < len(sentEnv); s0 += segmentWindows {
		s1 := min(len(sentEnv), s0+segmentWindows)
		gather := func(d int) bool {
			seg = seg[:0]
			for k := s0; k < s1; k++ {
				j := lag + d + k*perWin
				if j < 0 || j >= len(fine) {
					return false
				}
				seg = append(seg, fine[j])
			}
			return true
		}
		bestD, bestC := offset, math.Inf(-1)
		if s1-s0 >= shortSegment {
			// Nearest offsets first, so a tie (a silent second) keeps the lag.
			for i := 0; i <= 2*driftSteps; i++ {
				d := offset + (i+1)/2*(1-2*(i%2))
				if gather(d) {
					if c := pearson(sentEnv[s0:s1], seg); c > bestC {
						bestD, bestC = d, c
					}
				}
			}
		}
		if !gather(bestD) {
			break // got ends here
		}
		offset = bestD
		a = append(a, sentEnv[s0:s1]...)
		b = append(b, seg...)
	}
	if len(a) < need {
		return 0
	}
	return pearson(a, b)
}

// pearson is the correlation coefficient of a and b (equal length); 0 if
// either is constant.
func pearson(a, b []float64) float64 {
	n := float64(len(a))
	var sa, sb float64
	for i := range a {
		sa += a[i]
		sb += b[i]
	}
	ma, mb := sa/n, sb/n
	var cov, va, vb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		cov += da * db
		va += da * da
		vb += db * db
	}
	if va < 1e-18 || vb < 1e-18 {
		return 0
	}
	return cov / math.Sqrt(va*vb)
}

// WaveformMatch is the normalized cross-correlation (cosine similarity) of
// the waveforms of sent and got, got delayed by each lag within search of
// lag, sample by sample; it returns the best. It tells whether samples
// survived nearly unchanged (file round trips, resampling), which Match
// cannot. Its cost is proportional to search times the overlap, so keep
// search to a few milliseconds around a lag Match found.
func WaveformMatch(sent, got []int16, lag time.Duration, search time.Duration) float64 {
	center, radius := samples(lag), max(0, samples(search))
	best := 0.0
	for l := center - radius; l <= center+radius; l++ {
		// sent[i] lines up with got[i+l].
		start := max(0, -l)
		end := min(len(sent), len(got)-l)
		if end-start < samples(envWindow) {
			continue
		}
		var dot, es, eg int64
		for i := start; i < end; i++ {
			s, g := int64(sent[i]), int64(got[i+l])
			dot += s * g
			es += s * s
			eg += g * g
		}
		if es == 0 || eg == 0 {
			continue
		}
		if c := float64(dot) / math.Sqrt(float64(es)*float64(eg)); c > best {
			best = c
		}
	}
	return best
}
